//! The results lines of rows read but not yet written: valid rows learn their
//! outcome only when their batch commits, yet the results file lists rows in input
//! order, so lines wait here (at most about one batch of them) until then.

use bgjobs_domain::upload::Rejection;

use crate::results::{self, ResultsWriter};

/// Outcome of a row committed by an earlier delivery of the same attempt: its real
/// outcome was reported by that delivery, which did not finish the results file.
pub const APPLIED: &str = "applied";
/// Reason given with [`APPLIED`].
pub const APPLIED_EARLIER: &str = "committed by an earlier delivery";
/// Outcome of a valid row of an all-or-nothing upload that imported nothing.
pub const SKIPPED: &str = "skipped";
/// Reason given with [`SKIPPED`]: other rows of the upload are invalid.
pub const SKIPPED_ALL_OR_NOTHING: &str =
    "not imported: other rows of this all-or-nothing upload are invalid";

/// One waiting line.
#[derive(Debug)]
enum Line {
    /// Outcome and reason are known already.
    Known { row: u64, key: String, outcome: &'static str, reason: String },
    /// The outcome is that of the batch row at this index.
    InBatch { row: u64, key: String, index: usize },
}

/// The outcome of one batch row, as its results line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineOutcome {
    /// `created`, `updated`, `unchanged`, `rejected`...
    pub outcome: &'static str,
    /// Why, for a rejected row; empty otherwise.
    pub reason: String,
}

/// Results lines waiting for their batch, in input order.
#[derive(Debug, Default)]
pub struct RowLines {
    lines: Vec<Line>,
}

impl RowLines {
    /// Room for `capacity` lines.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { lines: Vec::with_capacity(capacity) }
    }

    /// A row whose outcome is known now.
    pub fn known(&mut self, row: u64, key: &str, outcome: &'static str, reason: &str) {
        self.lines.push(Line::Known {
            row,
            key: key.to_owned(),
            outcome,
            reason: reason.to_owned(),
        });
    }

    /// A row rejected by validation.
    pub fn reject(&mut self, rejection: Rejection) {
        self.lines.push(Line::Known {
            row: rejection.row,
            key: rejection.key.unwrap_or_default(),
            outcome: "rejected",
            reason: rejection.reason,
        });
    }

    /// A row that went into the batch at `index`.
    pub fn in_batch(&mut self, row: u64, key: &str, index: usize) {
        self.lines.push(Line::InBatch { row, key: key.to_owned(), index });
    }

    /// Writes every waiting line, batch rows with their entry of `batch`.
    pub async fn write(
        &mut self,
        results: &mut ResultsWriter,
        batch: &[LineOutcome],
    ) -> Result<(), Error> {
        for line in self.lines.drain(..) {
            match line {
                Line::Known { row, key, outcome, reason } => {
                    results.line(row, &key, outcome, &reason).await?;
                }
                Line::InBatch { row, key, index } => {
                    let outcome = batch.get(index).ok_or(Error::MissingOutcome { row })?;
                    results.line(row, &key, outcome.outcome, &outcome.reason).await?;
                }
            }
        }
        Ok(())
    }
}

/// Why waiting lines could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The results file refused a line.
    #[error(transparent)]
    Results(#[from] results::Error),
    /// A batch row had no outcome: a bug in the consumer.
    #[error("row {row} has no outcome from its batch")]
    MissingOutcome { row: u64 },
}
