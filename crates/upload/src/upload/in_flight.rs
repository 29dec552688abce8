//! The batches of one pass being written (or checked) on tasks of their own while the
//! pass reads on, settled in input order, each with the results lines that wait for its
//! outcome. A pass always has room for one batch; more at the same time (up to three)
//! also need batches of the consumer's budget, shared by all its jobs.

use std::collections::VecDeque;
use std::future::Future;

use bgjobs_consumer::Stop;
use bgjobs_database::catalog::{AppliedBatch, BatchChain, RowOutcome};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::store_stop;
use crate::row_lines::RowLines;
use crate::settings::{BatchBudget, BatchPermit};

/// The most batches of one pass written at once: as many as the store lets be open
/// side by side.
const MOST_PER_PASS: usize = BatchChain::MOST_OPEN;

/// What the store said of a batch.
pub(super) enum Verdict {
    /// A write pass's batch was committed.
    Applied(AppliedBatch),
    /// A check pass's verdict per row: `None` for a row that would be written.
    Checked(Vec<Option<RowOutcome>>),
}

/// The rows of a batch and what the store did with them, handed back with the lines
/// that waited for them.
pub(super) struct Settled<Row> {
    pub rows: Vec<(u64, Row)>,
    pub verdict: Verdict,
    pub lines: RowLines,
    /// The input rows the pass has handled once this batch is settled.
    pub rows_committed: u64,
    /// Rows since the batch before this one that validation rejected.
    pub rejected: u64,
}

type Written<Row> = (Vec<(u64, Row)>, Result<Verdict, bgjobs_database::Error>);

struct Batch<Row> {
    task: JoinHandle<Written<Row>>,
    lines: RowLines,
    rows_committed: u64,
    rejected: u64,
    /// Given back to the budget when the batch is settled.
    _permit: Option<BatchPermit>,
}

/// Room for one more batch, holding what it takes of the budget.
pub(super) struct Room(Option<BatchPermit>);

/// Batches sent and not yet settled, oldest first.
pub(super) struct InFlight<Row> {
    batches: VecDeque<Batch<Row>>,
    /// `None` for one batch at a time.
    budget: Option<BatchBudget>,
}

impl<Row: Send + 'static> InFlight<Row> {
    /// Batches sent one at a time, each once the one before it has settled.
    pub fn one_at_a_time() -> Self {
        Self { batches: VecDeque::with_capacity(1), budget: None }
    }

    /// Batches sent beside one another while `budget` allows it.
    pub fn sharing(budget: BatchBudget) -> Self {
        Self { batches: VecDeque::with_capacity(MOST_PER_PASS), budget: Some(budget) }
    }

    /// No batch is in flight.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Room for another batch now, if there is: always when none is in flight, otherwise
    /// while fewer than [`MOST_PER_PASS`] are and the budget has a batch free. Every
    /// batch counts in the budget. Without room the oldest batch must settle first.
    pub fn room(&self) -> Option<Room> {
        if self.batches.len() >= MOST_PER_PASS {
            return None;
        }
        let Some(budget) = &self.budget else {
            return self.batches.is_empty().then_some(Room(None));
        };
        if self.batches.is_empty() {
            return Some(Room(Some(budget.take())));
        }
        budget.try_take().map(|permit| Room(Some(permit)))
    }

    /// The oldest batch has finished: settling it would not wait.
    pub fn oldest_finished(&self) -> bool {
        self.batches.front().is_some_and(|batch| batch.task.is_finished())
    }

    /// Starts `write`, which hands back its rows with the store's verdict, on a task of
    /// its own; `lines` wait for it, and settling it means the pass has handled the input
    /// rows through `rows_committed`, `rejected` of them since the batch before it
    /// rejected by validation.
    pub fn send(
        &mut self,
        Room(permit): Room,
        (rows_committed, rejected): (u64, u64),
        lines: RowLines,
        write: impl Future<Output = Written<Row>> + Send + 'static,
    ) {
        let task = tokio::spawn(write.instrument(tracing::Span::current()));
        let batch = Batch { task, lines, rows_committed, rejected, _permit: permit };
        self.batches.push_back(batch);
    }

    /// Waits for the oldest batch and hands it back; `None` when none is in flight. A
    /// batch the store refused is the stop it means.
    pub async fn settle_oldest(&mut self) -> Option<Result<Settled<Row>, Stop>> {
        let Batch { task, lines, rows_committed, rejected, .. } = self.batches.pop_front()?;
        let settled = match task.await {
            Ok((rows, Ok(verdict))) => {
                Ok(Settled { rows, verdict, lines, rows_committed, rejected })
            }
            Ok((_, Err(error))) => Err(store_stop(error)),
            Err(error) => {
                Err(Stop::Retry(format!("writing a batch stopped unexpectedly: {error}")))
            }
        };
        Some(settled)
    }

    /// Waits for every batch in flight, whatever became of it: a pass that stops early
    /// does so before it reports, so that nothing it started commits afterwards.
    pub async fn drain(&mut self) {
        while let Some(batch) = self.batches.pop_front() {
            let _ = batch.task.await;
        }
    }
}

impl<Row> Drop for InFlight<Row> {
    /// A pass dropped mid-way (its delivery cancelled at shutdown) stops its batches:
    /// their transactions roll back, and the redelivered message resumes from the
    /// checkpoint.
    fn drop(&mut self) {
        for batch in &self.batches {
            batch.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a batch that settles at once with nothing in it, if there is room.
    fn send_if_room(in_flight: &mut InFlight<()>) -> bool {
        let Some(room) = in_flight.room() else { return false };
        let empty = async { (Vec::new(), Ok(Verdict::Checked(Vec::new()))) };
        in_flight.send(room, (0, 0), RowLines::default(), empty);
        true
    }

    #[tokio::test]
    async fn a_second_batch_needs_the_budget_and_a_first_one_never_waits_for_it() {
        let budget = BatchBudget::new(MOST_PER_PASS + 1);
        let (mut one, mut other) =
            (InFlight::sharing(budget.clone()), InFlight::sharing(budget.clone()));
        for _ in 0..MOST_PER_PASS {
            assert!(send_if_room(&mut one), "{MOST_PER_PASS} beside each other");
        }
        assert!(!send_if_room(&mut one), "one more than a pass may write at once");
        assert!(send_if_room(&mut other), "the last batch of the budget");
        assert!(budget.try_take().is_none());
        assert!(!send_if_room(&mut other), "a second batch with the budget spent");
        let mut third = InFlight::sharing(budget.clone());
        assert!(send_if_room(&mut third), "a pass's first batch goes whatever the budget");

        // One more than the budget is counted now: one settled batch leaves it spent.
        assert!(one.settle_oldest().await.is_some_and(|settled| settled.is_ok()));
        assert!(!send_if_room(&mut other), "the first batch of a pass counts too");
        assert!(third.settle_oldest().await.is_some());
        assert!(send_if_room(&mut other), "settled batches gave their part of the budget back");
    }

    #[tokio::test]
    async fn one_at_a_time_sends_a_batch_only_once_the_one_before_settled() {
        let mut in_flight = InFlight::one_at_a_time();
        assert!(send_if_room(&mut in_flight));
        assert!(!send_if_room(&mut in_flight));
        assert!(in_flight.settle_oldest().await.is_some());
        assert!(send_if_room(&mut in_flight));
    }
}
