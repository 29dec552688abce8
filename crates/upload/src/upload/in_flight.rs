//! The batches of one pass being written (or checked) on tasks of their own while the
//! pass reads on: at most a set number at once, settled in input order, each with the
//! results lines that wait for its outcome.

use std::collections::VecDeque;
use std::future::Future;

use bgjobs_consumer::Stop;
use bgjobs_database::catalog::{AppliedBatch, RowOutcome};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::store_stop;
use crate::row_lines::RowLines;

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
}

/// Batches sent and not yet settled, oldest first.
pub(super) struct InFlight<Row> {
    batches: VecDeque<Batch<Row>>,
    most: usize,
}

impl<Row: Send + 'static> InFlight<Row> {
    /// Room for `most` batches at once (at least one).
    pub fn new(most: usize) -> Self {
        Self { batches: VecDeque::with_capacity(most), most: most.max(1) }
    }

    /// No batch is in flight.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// As many batches are in flight as may be: the oldest must settle first.
    pub fn is_full(&self) -> bool {
        self.batches.len() >= self.most
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
        (rows_committed, rejected): (u64, u64),
        lines: RowLines,
        write: impl Future<Output = Written<Row>> + Send + 'static,
    ) {
        let task = tokio::spawn(write.instrument(tracing::Span::current()));
        self.batches.push_back(Batch { task, lines, rows_committed, rejected });
    }

    /// Waits for the oldest batch and hands it back; `None` when none is in flight. A
    /// batch the store refused is the stop it means.
    pub async fn settle_oldest(&mut self) -> Option<Result<Settled<Row>, Stop>> {
        let Batch { task, lines, rows_committed, rejected } = self.batches.pop_front()?;
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
