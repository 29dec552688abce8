//! How far an upload job got: its checkpoint, written with every committed batch.

use bgjobs_domain::JobId;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait,
    QueryFilter,
};

use super::AppliedBatch;
use crate::convert::{read_u32, read_u64, write_i32, write_i64};
use crate::entities::job_checkpoints;
use crate::{CatalogStore, Error};

/// How far an upload job got: the totals through its last committed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The job attempt that wrote the checkpoint.
    pub attempt: u32,
    /// Input rows handled through the last committed batch, rejected ones included;
    /// a redelivered job skips this many rows.
    pub rows_committed: u64,
    /// Products created so far.
    pub rows_created: u64,
    /// Products changed so far.
    pub rows_updated: u64,
    /// Products that already had the uploaded values.
    pub rows_unchanged: u64,
    /// Rows rejected so far: by validation, by the write mode, or as duplicates.
    pub rows_rejected: u64,
    /// The attempt has read the whole file and stored its results file: a later
    /// delivery of the same attempt (a copy of the message) has nothing left to do.
    pub results_written: bool,
}

impl CatalogStore {
    /// The checkpoint of upload job `job`, if it has committed a batch.
    pub async fn checkpoint(&self, job: JobId) -> Result<Option<Checkpoint>, Error> {
        let Some(row) =
            job_checkpoints::Entity::find_by_id(job.as_uuid()).one(&self.connection).await?
        else {
            return Ok(None);
        };
        Ok(Some(Checkpoint {
            attempt: read_u32("attempt", row.attempt)?,
            rows_committed: read_u64("rows_committed", row.rows_committed)?,
            rows_created: read_u64("rows_created", row.rows_created)?,
            rows_updated: read_u64("rows_updated", row.rows_updated)?,
            rows_unchanged: read_u64("rows_unchanged", row.rows_unchanged)?,
            rows_rejected: read_u64("rows_rejected", row.rows_rejected)?,
            results_written: row.results_written,
        }))
    }

    /// Records that `attempt` of upload job `job` has stored its complete results file
    /// (nothing happens when the checkpoint belongs to another attempt, or to none).
    pub async fn mark_results_written(&self, job: JobId, attempt: u32) -> Result<(), Error> {
        job_checkpoints::Entity::update_many()
            .col_expr(job_checkpoints::Column::ResultsWritten, Expr::value(true))
            .filter(job_checkpoints::Column::JobId.eq(job.as_uuid()))
            .filter(job_checkpoints::Column::Attempt.eq(write_i32("attempt", attempt)?))
            .exec(&self.connection)
            .await?;
        Ok(())
    }
}

/// Records `after` (the totals before this batch, rows committed through it) plus what
/// `applied` did as the checkpoint of `job`, inside the batch's own transaction.
///
/// Only the write knows what the batch did: its counts join the totals here, in the
/// same transaction, so the checkpoint is never a batch behind. Refused rows (write
/// mode, duplicates) count as rejected.
///
/// `first_row` is the batch's first input row. When the checkpoint of the same attempt
/// already covers it, another delivery of that attempt (a duplicate copy of the job
/// message, run by another worker) wrote these rows first: the batch is refused with
/// [`Error::Overtaken`] and the caller's transaction must roll back, so no row is
/// applied twice and the checkpoint never moves back. The row lock taken by the
/// upsert makes concurrent deliveries settle this one batch at a time.
pub(crate) async fn write_checkpoint(
    transaction: &DatabaseTransaction,
    job: JobId,
    after: &Checkpoint,
    applied: &AppliedBatch,
    first_row: u64,
) -> Result<(), Error> {
    let after = Checkpoint {
        rows_created: after.rows_created + applied.counts.created,
        rows_updated: after.rows_updated + applied.counts.updated,
        rows_unchanged: after.rows_unchanged + applied.counts.unchanged,
        rows_rejected: after.rows_rejected + applied.refused,
        ..*after
    };
    let row = job_checkpoints::ActiveModel {
        job_id: Set(job.as_uuid()),
        attempt: Set(write_i32("attempt", after.attempt)?),
        rows_committed: Set(write_i64("rows_committed", after.rows_committed)?),
        rows_created: Set(write_i64("rows_created", after.rows_created)?),
        rows_updated: Set(write_i64("rows_updated", after.rows_updated)?),
        rows_unchanged: Set(write_i64("rows_unchanged", after.rows_unchanged)?),
        rows_rejected: Set(write_i64("rows_rejected", after.rows_rejected)?),
        results_written: Set(false),
        updated_at: NotSet,
    };
    let stored = (job_checkpoints::Entity, job_checkpoints::Column::Attempt);
    let stored_committed = (job_checkpoints::Entity, job_checkpoints::Column::RowsCommitted);
    // A newer attempt starts afresh; the same attempt only moves forward past rows no
    // other delivery committed.
    let not_overtaken = Expr::col(stored)
        .ne(write_i32("attempt", after.attempt)?)
        .or(Expr::col(stored_committed).lt(write_i64("first_row", first_row)?));
    let written = job_checkpoints::Entity::insert(row)
        .on_conflict(
            OnConflict::column(job_checkpoints::Column::JobId)
                .update_columns([
                    job_checkpoints::Column::Attempt,
                    job_checkpoints::Column::RowsCommitted,
                    job_checkpoints::Column::RowsCreated,
                    job_checkpoints::Column::RowsUpdated,
                    job_checkpoints::Column::RowsUnchanged,
                    job_checkpoints::Column::RowsRejected,
                    job_checkpoints::Column::ResultsWritten,
                ])
                .value(job_checkpoints::Column::UpdatedAt, Expr::cust("now()"))
                .action_and_where(not_overtaken)
                .to_owned(),
        )
        .exec_without_returning(transaction)
        .await?;
    if written == 0 {
        let committed = job_checkpoints::Entity::find_by_id(job.as_uuid())
            .one(transaction)
            .await?
            .map_or(Ok(0), |row| read_u64("rows_committed", row.rows_committed))?;
        return Err(Error::Overtaken { job, attempt: after.attempt, committed });
    }
    Ok(())
}
