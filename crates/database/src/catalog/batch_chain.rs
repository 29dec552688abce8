//! Batches of one upload pass written side by side, each in a transaction of its own on
//! a connection of its own, that still end as if written one after another.
//!
//! A batch begins only once the batch before it has claimed its keys. A key both give
//! is then held by the earlier batch: the later one's claim waits for the earlier to
//! end and finds the key claimed, so the later row is the duplicate, as when the
//! batches run in turn. A batch records its checkpoint only once the batch before it
//! has committed, adding its counts to the totals that batch committed: the checkpoint
//! moves forward batch by batch and never covers a batch that was not committed. What
//! runs side by side is the expensive part, writing the rows; batches of one pass write
//! different keys, since each key is claimed by one of them.
//!
//! A batch waits only for one that already holds a connection, so batches waiting for
//! the pool cannot hold up the batches they wait for.
//!
//! The chain also remembers whether the last batch written created every row it wrote:
//! the next one then expects new rows and tries a plain insert first (see
//! [`Begun::expects_new_rows`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

use super::AppliedBatch;
use super::checkpoint::Checkpoint;
use crate::Error;

/// The batches of one pass, in input order: hands out each batch's [`BatchTurn`].
#[derive(Debug)]
pub struct BatchChain {
    attempt: u32,
    claimed: oneshot::Receiver<()>,
    committed: oneshot::Receiver<Checkpoint>,
    only_created: Arc<AtomicBool>,
}

/// One batch's place in its [`BatchChain`]: when it may begin and record its checkpoint,
/// and how it tells the next batch.
#[derive(Debug)]
pub struct BatchTurn {
    attempt: u32,
    rows_committed: u64,
    rows_rejected: u64,
    previous_claimed: oneshot::Receiver<()>,
    previous_committed: oneshot::Receiver<Checkpoint>,
    claimed: oneshot::Sender<()>,
    committed: oneshot::Sender<Checkpoint>,
    only_created: Arc<AtomicBool>,
}

impl BatchChain {
    /// A chain whose first batch follows `start`: the checkpoint the pass resumes from
    /// (its totals, attempt and delivery).
    pub fn starting_at(start: Checkpoint) -> Self {
        let (claimed_sender, claimed) = oneshot::channel();
        let (committed_sender, committed) = oneshot::channel();
        // Nothing comes before the first batch: both are settled already.
        let _ = claimed_sender.send(());
        let _ = committed_sender.send(start);
        // A pass that has so far only created rows (or not begun) is taken to go on so.
        let only_created = start.rows_updated == 0 && start.rows_unchanged == 0;
        Self {
            attempt: start.attempt,
            claimed,
            committed,
            only_created: Arc::new(AtomicBool::new(only_created)),
        }
    }

    /// The turn of the next batch, which commits the input rows through `rows_committed`,
    /// `rows_rejected` of them since the batch before it rejected before they reached
    /// the store (by validation).
    pub fn next(&mut self, rows_committed: u64, rows_rejected: u64) -> BatchTurn {
        let (claimed, next_claimed) = oneshot::channel();
        let (committed, next_committed) = oneshot::channel();
        BatchTurn {
            attempt: self.attempt,
            rows_committed,
            rows_rejected,
            previous_claimed: std::mem::replace(&mut self.claimed, next_claimed),
            previous_committed: std::mem::replace(&mut self.committed, next_committed),
            claimed,
            committed,
            only_created: Arc::clone(&self.only_created),
        }
    }
}

/// A batch's turn once it has begun: what is left to wait for and to tell.
pub(crate) struct Begun {
    previous_committed: oneshot::Receiver<Checkpoint>,
    claimed: oneshot::Sender<()>,
    committed: oneshot::Sender<Checkpoint>,
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

    /// Waits until the batch may begin: the previous one has claimed its keys.
    /// [`Error::EarlierBatchNotCommitted`] if it ended without doing so.
    pub(crate) async fn begin(self) -> Result<Begun, Error> {
        self.previous_claimed.await.map_err(|_| Error::EarlierBatchNotCommitted)?;
        Ok(Begun {
            previous_committed: self.previous_committed,
            claimed: self.claimed,
            committed: self.committed,
            rows_committed: self.rows_committed,
            rows_rejected: self.rows_rejected,
            only_created: self.only_created,
        })
    }
}

impl Begun {
    /// Whether the rows of this batch are likely all new: the last batch of the pass
    /// written before it created every row it wrote (or it is the pass's first).
    pub(crate) fn expects_new_rows(&self) -> bool {
        self.only_created.load(Ordering::Relaxed)
    }

    /// Records what this batch's rows turned out to be, for the batches after it.
    pub(crate) fn wrote(&self, applied: &AppliedBatch) {
        self.only_created.store(applied.only_created(), Ordering::Relaxed);
    }

    /// Tells the next batch that this one's keys are claimed: it may begin.
    pub(crate) fn claimed(&mut self) {
        let (sender, _) = oneshot::channel();
        let _ = std::mem::replace(&mut self.claimed, sender).send(());
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

    /// Tells the next batch that this one has committed `checkpoint`.
    pub(crate) fn committed(self, checkpoint: Checkpoint) {
        let _ = self.committed.send(checkpoint);
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
        first.claimed();
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
        first.claimed();
        let mut second = second.begin().await.expect("claimed before");
        drop(first);
        assert!(matches!(second.previous_committed().await, Err(Error::EarlierBatchNotCommitted)));
        let third = chain.next(60, 0);
        drop(second);
        assert!(matches!(third.begin().await, Err(Error::EarlierBatchNotCommitted)));
    }
}
