//! Batches of one pass written side by side, each in a transaction of its own on
//! a connection of its own, that still end as if written one after another.
//!
//! At most [`BatchChain::MOST_OPEN`] batches of a pass are between their beginning and
//! their commit: a batch begins once the batch that many before it has committed. A
//! batch that claims its keys does so only once the batch before it has claimed (or,
//! deferring, inserted) its own. A key both give is then held by the earlier batch:
//! the later one's claim waits for the earlier to end and finds the key claimed, so
//! the later row is the duplicate, as when the batches run in turn. A batch records its
//! checkpoint only once the batch before it has committed, adding its counts to the
//! totals that batch committed: the checkpoint moves forward batch by batch and never
//! covers a batch that was not committed. What runs side by side is the expensive
//! part, writing the rows; batches of one pass write different keys, since each key is
//! claimed by one of them.
//!
//! A batch expected to hold only new rows defers its claims (see
//! [`upload_keys`](super::upload_keys)): it inserts its rows plainly, which fails if any
//! of its keys exists. It waits only for the open batches before it that share a key
//! with it (known from the keys' hashes, kept in memory), until they have inserted or
//! claimed theirs: no batch then waits on the rows of a later one. Its insert finds an
//! earlier batch's key once that batch has committed. A batch that claims keys after a
//! batch that deferred them waits for that batch to commit, so that the deferred keys
//! it turns into claims are all there.
//!
//! A batch waits only for one that already holds a connection, so batches waiting for
//! the pool cannot hold up the batches they wait for.
//!
//! The chain also remembers whether the last batch written created every row it wrote:
//! the next one then expects new rows (see [`BatchTurn::expects_new_rows`]).

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{oneshot, watch};

use super::AppliedBatch;
use super::checkpoint::Checkpoint;
use crate::Error;

/// The hashes of a batch's keys, set when it begins.
type KeyHashes = Arc<OnceLock<HashSet<u64>>>;

/// How a batch dealt with its keys, told to the batches after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Claimed in `catalog.upload_keys` (or the batch had none).
    Claimed,
    /// Inserted with the rows and recorded, to become claims when needed.
    Deferred,
}

/// An earlier batch that may still be open when a later one begins: its keys, and
/// what it did with them once it has.
#[derive(Debug, Clone)]
struct Earlier {
    keys: KeyHashes,
    claimed: watch::Receiver<Option<Keys>>,
}

impl Earlier {
    /// Waits until the batch has claimed or deferred its keys.
    /// [`Error::EarlierBatchNotCommitted`] if it ended without doing so.
    async fn claimed(&mut self) -> Result<Keys, Error> {
        let keys = self.claimed.wait_for(Option::is_some).await;
        keys.ok().and_then(|keys| *keys).ok_or(Error::EarlierBatchNotCommitted)
    }
}

/// The batches of one pass, in input order: hands out each batch's [`BatchTurn`].
#[derive(Debug)]
pub struct BatchChain {
    attempt: u32,
    hasher: RandomState,
    /// The last batches handed out, the latest first: at most `MOST_OPEN - 1`.
    recent: VecDeque<Earlier>,
    committed: oneshot::Receiver<Checkpoint>,
    /// Told when each of the last `MOST_OPEN` batches has committed, the oldest first.
    ended: VecDeque<oneshot::Receiver<()>>,
    only_created: Arc<AtomicBool>,
}

/// One batch's place in its [`BatchChain`]: when it may begin and record its checkpoint,
/// and how it tells the batches after it.
#[derive(Debug)]
pub struct BatchTurn {
    attempt: u32,
    rows_committed: u64,
    rows_rejected: u64,
    hasher: RandomState,
    keys: KeyHashes,
    /// The batches before it that may be open, the latest first.
    earlier: Vec<Earlier>,
    previous_committed: oneshot::Receiver<Checkpoint>,
    earlier_ended: oneshot::Receiver<()>,
    claimed: watch::Sender<Option<Keys>>,
    committed: oneshot::Sender<Checkpoint>,
    ended: oneshot::Sender<()>,
    only_created: Arc<AtomicBool>,
}

/// A signal of the batch before, received or still to come.
enum Previous<T> {
    Pending(oneshot::Receiver<T>),
    Received(T),
}

impl<T: Copy> Previous<T> {
    async fn get(&mut self) -> Result<T, Error> {
        if let Self::Pending(receiver) = self {
            let value = receiver.await.map_err(|_| Error::EarlierBatchNotCommitted)?;
            *self = Self::Received(value);
        }
        match self {
            Self::Received(value) => Ok(*value),
            Self::Pending(_) => unreachable!("received just above"),
        }
    }
}

/// A signal already given.
fn settled<T>(value: T) -> oneshot::Receiver<T> {
    let (sender, receiver) = oneshot::channel();
    let _ = sender.send(value);
    receiver
}

impl BatchChain {
    /// The most batches of a pass between their beginning and their commit.
    pub const MOST_OPEN: usize = 3;

    /// A chain whose first batch follows `start`: the checkpoint the pass resumes from
    /// (its totals, attempt and delivery).
    pub fn starting_at(start: Checkpoint) -> Self {
        // A pass that has so far only created rows (or not begun) is taken to go on so.
        let only_created = start.rows_updated == 0 && start.rows_unchanged == 0;
        // Nothing comes before the first batch: nothing is open, and what committed
        // before it holds no key in flight.
        Self {
            attempt: start.attempt,
            hasher: RandomState::new(),
            recent: VecDeque::with_capacity(Self::MOST_OPEN),
            committed: settled(start),
            ended: (0..Self::MOST_OPEN).map(|_| settled(())).collect(),
            only_created: Arc::new(AtomicBool::new(only_created)),
        }
    }

    /// The turn of the next batch, which commits the input rows through `rows_committed`,
    /// `rows_rejected` of them since the batch before it rejected before they reached
    /// the store (by validation).
    pub fn next(&mut self, rows_committed: u64, rows_rejected: u64) -> BatchTurn {
        let (claimed, claimed_receiver) = watch::channel(None);
        let (committed, next_committed) = oneshot::channel();
        let (ended, ended_receiver) = oneshot::channel();
        let keys = KeyHashes::default();
        let earlier = self.recent.iter().cloned().collect();
        self.recent.push_front(Earlier { keys: Arc::clone(&keys), claimed: claimed_receiver });
        self.recent.truncate(Self::MOST_OPEN - 1);
        self.ended.push_back(ended_receiver);
        let earlier_ended = self.ended.pop_front().unwrap_or_else(|| settled(()));
        BatchTurn {
            attempt: self.attempt,
            rows_committed,
            rows_rejected,
            hasher: self.hasher.clone(),
            keys,
            earlier,
            previous_committed: std::mem::replace(&mut self.committed, next_committed),
            earlier_ended,
            claimed,
            committed,
            ended,
            only_created: Arc::clone(&self.only_created),
        }
    }
}

/// A batch's turn once it has begun: what is left to wait for and to tell.
pub(crate) struct Begun {
    previous: Option<Earlier>,
    previous_committed: Previous<Checkpoint>,
    claimed: watch::Sender<Option<Keys>>,
    committed: oneshot::Sender<Checkpoint>,
    ended: oneshot::Sender<()>,
    rows_committed: u64,
    rows_rejected: u64,
    only_created: Arc<AtomicBool>,
}

impl BatchTurn {
    /// The job attempt whose batches these are.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The input rows committed once this batch is.
    pub(crate) fn rows_committed(&self) -> u64 {
        self.rows_committed
    }

    /// Whether the rows of this batch are likely all new: the last batch of the pass
    /// written before it created every row it wrote (or it is the pass's first).
    pub(crate) fn expects_new_rows(&self) -> bool {
        self.only_created.load(Ordering::Relaxed)
    }

    /// Waits until the batch, whose natural keys are `keys`, may begin: the batch
    /// [`BatchChain::MOST_OPEN`] before it has committed, and the one before it has
    /// claimed its keys; a batch that `defers` its claims waits instead for each open
    /// batch before it that shares a key with it to have inserted or claimed its own.
    /// [`Error::EarlierBatchNotCommitted`] if one of them ended without doing so.
    pub(crate) async fn begin<'a>(
        self,
        keys: impl Iterator<Item = &'a str>,
        defers: bool,
    ) -> Result<Begun, Error> {
        let hashes: HashSet<u64> = keys.map(|key| self.hasher.hash_one(key)).collect();
        let mut earlier = self.earlier;
        let waited: Vec<bool> = earlier
            .iter()
            .enumerate()
            .map(|(index, batch)| match defers {
                // Keys not yet known may be shared.
                true => batch.keys.get().is_none_or(|theirs| !hashes.is_disjoint(theirs)),
                false => index == 0,
            })
            .collect();
        let _ = self.keys.set(hashes);
        self.earlier_ended.await.map_err(|_| Error::EarlierBatchNotCommitted)?;
        for (batch, wait) in earlier.iter_mut().zip(waited) {
            if wait {
                batch.claimed().await?;
            }
        }
        Ok(Begun {
            previous: earlier.into_iter().next(),
            previous_committed: Previous::Pending(self.previous_committed),
            claimed: self.claimed,
            committed: self.committed,
            ended: self.ended,
            rows_committed: self.rows_committed,
            rows_rejected: self.rows_rejected,
            only_created: self.only_created,
        })
    }
}

impl Begun {
    /// Records what this batch's rows turned out to be, for the batches after it.
    pub(crate) fn wrote(&self, applied: &AppliedBatch) {
        self.only_created.store(applied.only_created(), Ordering::Relaxed);
    }

    /// Waits until this batch may claim keys: the batch before it has claimed its own,
    /// and, if it deferred them instead, committed. A batch that claims has waited for
    /// the one before it, so every earlier batch has then claimed its keys or committed.
    pub(crate) async fn may_claim(&mut self) -> Result<(), Error> {
        if let Some(previous) = &mut self.previous
            && previous.claimed().await? == Keys::Deferred
        {
            self.previous_committed.get().await?;
        }
        Ok(())
    }

    /// Tells the batches after this one that its keys are claimed, or `deferred` with
    /// its inserted rows.
    pub(crate) fn claimed(&mut self, deferred: bool) {
        let keys = if deferred { Keys::Deferred } else { Keys::Claimed };
        self.claimed.send_replace(Some(keys));
    }

    /// Waits until the previous batch has committed; returns the checkpoint this batch
    /// records before its own counts: the previous one's totals, through this batch's
    /// rows, with the rows rejected since. [`Error::EarlierBatchNotCommitted`] if the
    /// previous batch failed.
    pub(crate) async fn previous_committed(&mut self) -> Result<Checkpoint, Error> {
        let previous = self.previous_committed.get().await?;
        Ok(Checkpoint {
            rows_committed: self.rows_committed,
            rows_rejected: previous.rows_rejected + self.rows_rejected,
            ..previous
        })
    }

    /// Tells the batches after this one that it has committed `checkpoint`.
    pub(crate) fn committed(self, checkpoint: Checkpoint) {
        let _ = self.committed.send(checkpoint);
        let _ = self.ended.send(());
    }
}

impl Checkpoint {
    /// These totals with what `applied` did added; refused rows count as rejected.
    pub(crate) fn plus(&self, applied: &AppliedBatch) -> Self {
        Self {
            rows_created: self.rows_created + applied.counts.created,
            rows_updated: self.rows_updated + applied.counts.updated,
            rows_unchanged: self.rows_unchanged + applied.counts.unchanged,
            rows_rejected: self.rows_rejected + applied.refused,
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(rows_committed: u64, rows_created: u64) -> Checkpoint {
        Checkpoint { attempt: 2, delivery: 1, rows_committed, rows_created, ..Default::default() }
    }

    /// Begins `turn` with natural keys `keys` on a task of its own.
    fn begin(
        turn: BatchTurn,
        keys: &'static [&'static str],
        defers: bool,
    ) -> tokio::task::JoinHandle<Result<Begun, Error>> {
        tokio::spawn(turn.begin(keys.iter().copied(), defers))
    }

    /// Whether `task` is still waiting once every other task had the chance to run.
    async fn waits<T>(task: &tokio::task::JoinHandle<T>) -> bool {
        tokio::task::yield_now().await;
        !task.is_finished()
    }

    #[tokio::test]
    async fn the_first_batch_goes_at_once_and_continues_the_start() {
        let mut chain = BatchChain::starting_at(checkpoint(10, 7));
        let turn = chain.next(30, 0);
        assert_eq!((turn.attempt(), turn.rows_committed()), (2, 30));
        let mut begun = begin(turn, &["A"], false).await.expect("joined").expect("first");
        assert_eq!(begun.previous_committed().await.expect("the start"), checkpoint(30, 7));
    }

    #[tokio::test]
    async fn a_batch_begins_after_the_previous_claimed_and_records_after_it_committed() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let first = chain.next(20, 0);
        let second = chain.next(40, 3);
        let mut first = begin(first, &["A"], false).await.expect("joined").expect("first");
        let mut begin_second = begin(second, &["B"], false);
        assert!(waits(&begin_second).await, "began before the first batch claimed its keys");
        first.claimed(false);
        let mut second = (&mut begin_second).await.expect("joined").expect("may begin");
        second.may_claim().await.expect("the first batch claimed its keys");
        let mut recorded = tokio::spawn(async move { second.previous_committed().await });
        assert!(waits(&recorded).await, "recorded before the first batch committed");
        assert_eq!(first.previous_committed().await.expect("start"), checkpoint(20, 0));
        first.committed(checkpoint(20, 15));
        let recorded = (&mut recorded).await.expect("joined").expect("committed before");
        assert_eq!(recorded, Checkpoint { rows_rejected: 3, ..checkpoint(40, 15) });
    }

    #[tokio::test]
    async fn a_deferring_batch_waits_for_the_one_before_only_when_they_share_a_key() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let first = chain.next(2, 0);
        let apart = chain.next(4, 0);
        let _first = begin(first, &["A", "B"], true).await.expect("joined").expect("first");
        let apart = begin(apart, &["C", "D"], true);
        assert!(!waits(&apart).await, "a batch sharing no key waited for the claims before it");
        apart.await.expect("joined").expect("may begin");

        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let (first, sharing) = (chain.next(2, 0), chain.next(4, 0));
        let mut first = begin(first, &["A", "B"], true).await.expect("joined").expect("first");
        let sharing = begin(sharing, &["C", "B"], true);
        assert!(waits(&sharing).await, "a batch sharing key B did not wait for it");
        first.claimed(true);
        sharing.await.expect("joined").expect("may begin once B is inserted");
    }

    #[tokio::test]
    async fn a_batch_claiming_after_one_that_deferred_its_keys_waits_for_its_commit() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let (first, second) = (chain.next(2, 0), chain.next(4, 0));
        let mut first = begin(first, &["A"], true).await.expect("joined").expect("first");
        let second = begin(second, &["B"], true).await.expect("joined").expect("apart");
        first.claimed(true);
        let mut may_claim = tokio::spawn(async move {
            let mut second = second;
            second.may_claim().await.map(|()| second)
        });
        assert!(waits(&may_claim).await, "claimed before the deferred keys were committed");
        first.committed(checkpoint(2, 1));
        (&mut may_claim).await.expect("joined").expect("the first batch committed");
    }

    #[tokio::test]
    async fn a_deferring_batch_waits_for_any_open_batch_sharing_a_key_with_it() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let (first, second, third) = (chain.next(2, 0), chain.next(4, 0), chain.next(6, 0));
        let mut first = begin(first, &["A"], true).await.expect("joined").expect("first");
        let mut second = begin(second, &["B"], true).await.expect("joined").expect("apart");
        second.claimed(true);
        let third = begin(third, &["C", "A"], true);
        assert!(waits(&third).await, "began before the first batch inserted key A");
        first.claimed(true);
        third.await.expect("joined").expect("A inserted");
    }

    #[tokio::test]
    async fn a_batch_begins_only_once_the_batch_most_open_before_it_committed() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let keys: [&[&str]; BatchChain::MOST_OPEN] = [&["A"], &["B"], &["C"]];
        let mut open = Vec::new();
        for (index, keys) in keys.into_iter().enumerate() {
            let turn = chain.next(index as u64 + 1, 0);
            let mut batch = begin(turn, keys, true).await.expect("joined").expect("apart");
            batch.claimed(true);
            open.push(batch);
        }
        let last = begin(chain.next(4, 0), &["D"], true);
        assert!(waits(&last).await, "began with {} batches open", BatchChain::MOST_OPEN);
        open.remove(0).committed(checkpoint(1, 1));
        last.await.expect("joined").expect("the first batch committed");
    }

    #[tokio::test]
    async fn a_batch_after_one_that_failed_is_refused() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let first = chain.next(20, 0);
        let second = chain.next(40, 0);
        let mut first = begin(first, &["A"], false).await.expect("joined").expect("first");
        first.claimed(false);
        let mut second = begin(second, &["B"], false).await.expect("joined").expect("claimed");
        drop(first);
        assert!(matches!(second.previous_committed().await, Err(Error::EarlierBatchNotCommitted)));
        let third = chain.next(60, 0);
        drop(second);
        let third = begin(third, &["C"], false).await.expect("joined");
        assert!(matches!(third, Err(Error::EarlierBatchNotCommitted)));
    }
}
