//! Batches of one upload pass written side by side, each in a transaction of its own on
//! a connection of its own, that still end as if written one after another.
//!
//! A batch begins only once the batch before it has claimed its keys, and tells the
//! next batch which keys it holds. How a batch finds a key an earlier row gave depends
//! on the write mode:
//!
//! - Claiming every key in `catalog.upload_keys` (create-only, update-only): a key
//!   both give is held by the earlier batch, whose claim the later one's waits for, so
//!   the later row is the duplicate, as when the batches run in turn.
//! - Create-or-update, where only rows left unchanged are claimed and a written row
//!   carries its job and input row: a batch also waits until the batch two before it
//!   has committed, so everything before the batch before it is visible to it, and
//!   takes the keys of that batch before it, still uncommitted, from the keys it was
//!   told: it does not write them.
//!
//! A batch records its checkpoint only once the batch before it has committed, adding
//! its counts to the totals that batch committed: the checkpoint moves forward batch by
//! batch and never covers a batch that was not committed. What runs side by side is the
//! expensive part, writing the rows; batches of one pass write different keys.
//!
//! A batch waits only for ones that already hold a connection, so batches waiting for
//! the pool cannot hold up the batches they wait for.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::AppliedBatch;
use super::checkpoint::Checkpoint;
use crate::Error;

/// The natural keys a batch holds, each with the first input row that gave it.
pub(crate) type BatchKeys = HashMap<String, u64>;

/// The batches of one pass, in input order: hands out each batch's [`BatchTurn`].
#[derive(Debug)]
pub struct BatchChain {
    attempt: u32,
    claimed: oneshot::Receiver<Arc<BatchKeys>>,
    committed: oneshot::Receiver<Checkpoint>,
    /// Fired as each of the last two batches handed out commits, oldest first.
    ended: VecDeque<oneshot::Receiver<()>>,
}

/// One batch's place in its [`BatchChain`]: when it may begin and record its checkpoint,
/// and how it tells the next batches.
#[derive(Debug)]
pub struct BatchTurn {
    attempt: u32,
    rows_committed: u64,
    rows_rejected: u64,
    previous_claimed: oneshot::Receiver<Arc<BatchKeys>>,
    previous_committed: oneshot::Receiver<Checkpoint>,
    second_previous_committed: oneshot::Receiver<()>,
    claimed: oneshot::Sender<Arc<BatchKeys>>,
    committed: oneshot::Sender<Checkpoint>,
    ended: oneshot::Sender<()>,
}

/// A receiver that has fired already.
fn fired<T>(value: T) -> oneshot::Receiver<T> {
    let (sender, receiver) = oneshot::channel();
    let _ = sender.send(value);
    receiver
}

impl BatchChain {
    /// A chain whose first batch follows `start`: the checkpoint the pass resumes from
    /// (its totals, attempt and delivery).
    pub fn starting_at(start: Checkpoint) -> Self {
        // Nothing comes before the first batch: all is settled already.
        Self {
            attempt: start.attempt,
            claimed: fired(Arc::default()),
            committed: fired(start),
            ended: VecDeque::from([fired(()), fired(())]),
        }
    }

    /// The turn of the next batch, which commits the input rows through `rows_committed`,
    /// `rows_rejected` of them since the batch before it rejected before they reached
    /// the store (by validation).
    pub fn next(&mut self, rows_committed: u64, rows_rejected: u64) -> BatchTurn {
        let (claimed, next_claimed) = oneshot::channel();
        let (committed, next_committed) = oneshot::channel();
        let (ended, next_ended) = oneshot::channel();
        self.ended.push_back(next_ended);
        BatchTurn {
            attempt: self.attempt,
            rows_committed,
            rows_rejected,
            previous_claimed: std::mem::replace(&mut self.claimed, next_claimed),
            previous_committed: std::mem::replace(&mut self.committed, next_committed),
            second_previous_committed: self.ended.pop_front().unwrap_or_else(|| fired(())),
            claimed,
            committed,
            ended,
        }
    }
}

/// A batch's turn once it has begun: what is left to wait for and to tell.
pub(crate) struct Begun {
    previous_keys: Arc<BatchKeys>,
    previous_committed: oneshot::Receiver<Checkpoint>,
    claimed: oneshot::Sender<Arc<BatchKeys>>,
    committed: oneshot::Sender<Checkpoint>,
    ended: oneshot::Sender<()>,
    rows_committed: u64,
    rows_rejected: u64,
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

    /// Waits until the batch may begin: the previous one has claimed its keys.
    /// [`Error::EarlierBatchNotCommitted`] if it ended without doing so.
    pub(crate) async fn begin(self) -> Result<Begun, Error> {
        let previous_keys =
            self.previous_claimed.await.map_err(|_| Error::EarlierBatchNotCommitted)?;
        Ok(Begun {
            previous_keys,
            previous_committed: self.previous_committed,
            claimed: self.claimed,
            committed: self.committed,
            ended: self.ended,
            rows_committed: self.rows_committed,
            rows_rejected: self.rows_rejected,
        })
    }

    /// [`BatchTurn::begin`], once the batch two before this one has also committed:
    /// only the batch just before may then be uncommitted, and its keys are
    /// [`Begun::previous_keys`].
    pub(crate) async fn begin_after_all_but_the_previous(self) -> Result<Begun, Error> {
        let (_, unused) = oneshot::channel();
        let mut turn = self;
        let second_previous = std::mem::replace(&mut turn.second_previous_committed, unused);
        second_previous.await.map_err(|_| Error::EarlierBatchNotCommitted)?;
        turn.begin().await
    }
}

impl Begun {
    /// The keys the batch before this one holds, as it told them.
    pub(crate) fn previous_keys(&self) -> &BatchKeys {
        &self.previous_keys
    }

    /// Tells the next batch that this one holds `keys` (none, when its claims in
    /// `catalog.upload_keys` say it): it may begin.
    pub(crate) fn claimed(&mut self, keys: Arc<BatchKeys>) {
        let (sender, _) = oneshot::channel();
        let _ = std::mem::replace(&mut self.claimed, sender).send(keys);
    }

    /// Waits until the previous batch has committed; returns the checkpoint this batch
    /// records before its own counts: the previous one's totals, through this batch's
    /// rows, with the rows rejected since. [`Error::EarlierBatchNotCommitted`] if the
    /// previous batch failed.
    pub(crate) async fn previous_committed(&mut self) -> Result<Checkpoint, Error> {
        let (_, receiver) = oneshot::channel();
        let previous = std::mem::replace(&mut self.previous_committed, receiver);
        let previous = previous.await.map_err(|_| Error::EarlierBatchNotCommitted)?;
        Ok(Checkpoint {
            rows_committed: self.rows_committed,
            rows_rejected: previous.rows_rejected + self.rows_rejected,
            ..previous
        })
    }

    /// Tells the next batches that this one has committed `checkpoint`.
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

    #[tokio::test]
    async fn the_first_batch_goes_at_once_and_continues_the_start() {
        let mut chain = BatchChain::starting_at(checkpoint(10, 7));
        let turn = chain.next(30, 0);
        assert_eq!((turn.attempt(), turn.rows_committed()), (2, 30));
        let mut begun = turn.begin().await.expect("nothing before the first batch");
        assert_eq!(begun.previous_committed().await.expect("the start"), checkpoint(30, 7));
    }

    #[tokio::test]
    async fn a_batch_begins_after_the_previous_claimed_and_records_after_it_committed() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let first = chain.next(20, 0);
        let second = chain.next(40, 3);
        let mut first = first.begin().await.expect("first");
        let mut begin_second = tokio::spawn(second.begin());
        tokio::task::yield_now().await;
        assert!(!begin_second.is_finished(), "began before the first batch claimed its keys");
        first.claimed(Arc::default());
        let mut second = (&mut begin_second).await.expect("joined").expect("may begin");
        let mut recorded = tokio::spawn(async move { second.previous_committed().await });
        tokio::task::yield_now().await;
        assert!(!recorded.is_finished(), "recorded before the first batch committed");
        assert_eq!(first.previous_committed().await.expect("start"), checkpoint(20, 0));
        first.committed(checkpoint(20, 15));
        let recorded = (&mut recorded).await.expect("joined").expect("committed before");
        assert_eq!(recorded, Checkpoint { rows_rejected: 3, ..checkpoint(40, 15) });
    }

    #[tokio::test]
    async fn a_batch_after_one_that_failed_is_refused() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let first = chain.next(20, 0);
        let second = chain.next(40, 0);
        let mut first = first.begin().await.expect("first");
        first.claimed(Arc::default());
        let mut second = second.begin().await.expect("claimed before");
        drop(first);
        assert!(matches!(second.previous_committed().await, Err(Error::EarlierBatchNotCommitted)));
        let third = chain.next(60, 0);
        drop(second);
        assert!(matches!(third.begin().await, Err(Error::EarlierBatchNotCommitted)));
    }

    #[tokio::test]
    async fn a_batch_told_the_previous_keys_begins_once_the_one_before_that_committed() {
        let mut chain = BatchChain::starting_at(checkpoint(0, 0));
        let first = chain.next(20, 0).begin_after_all_but_the_previous().await;
        let mut first = first.expect("nothing before the first batch");
        assert!(first.previous_keys().is_empty());
        let second = chain.next(40, 0);
        let third = chain.next(60, 0);
        first.claimed(Arc::new(BatchKeys::from([("A".to_owned(), 3)])));
        let mut second = second.begin_after_all_but_the_previous().await.expect("second");
        assert_eq!(second.previous_keys().get("A"), Some(&3));
        second.claimed(Arc::default());
        let mut begin_third = tokio::spawn(third.begin_after_all_but_the_previous());
        tokio::task::yield_now().await;
        assert!(!begin_third.is_finished(), "began before the first batch committed");
        first.previous_committed().await.expect("start");
        first.committed(checkpoint(20, 20));
        (&mut begin_third).await.expect("joined").expect("the first batch committed");
    }
}
