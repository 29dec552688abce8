//! How far an upload job got: its checkpoint, written with every committed batch.

use bgjobs_domain::JobId;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ConnectionTrait, DatabaseTransaction, EntityTrait,
    Statement, TransactionTrait,
};

use super::AppliedBatch;
use super::fence::refuse_unless_current;
use super::upload_keys::forget_keys;
use crate::convert::{read_u32, read_u64, write_i32, write_i64};
use crate::entities::job_checkpoints;
use crate::{CatalogStore, Error};

/// How far an upload job got: the totals through its last committed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The job attempt that wrote the checkpoint.
    pub attempt: u32,
    /// The newest delivery of that attempt that claimed it
    /// ([`CatalogStore::claim_checkpoint`]); a batch of an older one is refused. 0 when
    /// no delivery claimed it (a store used without deliveries, as in its own tests).
    pub delivery: u32,
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

/// Claims the checkpoint of a job's attempt for a delivery (`$1`, `$2`, `$3`) and
/// returns it, in one round trip; no row when the stored checkpoint is an older
/// attempt's (it is then dropped by [`DROP_OLDER`] and the claim made again).
const CLAIM: &str = "INSERT INTO catalog.job_checkpoints AS stored (job_id, attempt, delivery, \
                     rows_committed, rows_created, rows_updated, rows_unchanged, rows_rejected) \
                     VALUES ($1, $2, $3, 0, 0, 0, 0, 0) \
                     ON CONFLICT (job_id) DO UPDATE \
                     SET delivery = GREATEST(stored.delivery, EXCLUDED.delivery) \
                     WHERE stored.attempt = EXCLUDED.attempt \
                     RETURNING delivery, rows_committed, rows_created, rows_updated, \
                     rows_unchanged, rows_rejected, results_written";

/// Marks the results file of a job's attempt (`$1`, `$2`) stored, unless a delivery
/// newer than `$3` claimed the checkpoint; returns the delivery that claimed it.
const MARK_RESULTS_WRITTEN: &str = "UPDATE catalog.job_checkpoints \
                                    SET results_written = results_written OR delivery <= $3 \
                                    WHERE job_id = $1 AND attempt = $2 RETURNING delivery";

/// Drops the checkpoint of a job (`$1`) unless it is of attempt `$2`.
const DROP_OLDER: &str = "DELETE FROM catalog.job_checkpoints WHERE job_id = $1 AND attempt <> $2";

impl CatalogStore {
    /// The checkpoint of upload job `job`, if it has committed a batch.
    pub async fn checkpoint(&self, job: JobId) -> Result<Option<Checkpoint>, Error> {
        let Some(row) =
            job_checkpoints::Entity::find_by_id(job.as_uuid()).one(&self.connection).await?
        else {
            return Ok(None);
        };
        row_checkpoint(&row).map(Some)
    }

    /// Claims the checkpoint of upload job `job` for delivery `delivery` of `attempt`
    /// and returns it, to resume from: a delivery calls it before it reads its file.
    ///
    /// The registry orders a job's events by (attempt, delivery, sequence), so the
    /// newest delivery of an attempt is the one whose events count. The store agrees:
    /// once a delivery has claimed the checkpoint, every write of an older delivery of
    /// the same attempt (the message redelivered while that one still ran, after its
    /// broker connection dropped) is refused with [`Error::TakenOver`], and the claim
    /// returns the checkpoint as that older delivery last committed it, under the
    /// row's lock. A delivery older than the one that claimed it is refused at once.
    /// An older attempt's checkpoint is dropped: a new attempt starts afresh. A claim
    /// that finds nothing of the attempt committed also forgets the keys the job has
    /// claimed ([`CatalogStore::clear_upload_keys`]): an interrupted delivery's or an
    /// earlier attempt's must not make the rows duplicates. Refused with
    /// [`Error::Superseded`] once `attempt` is not the job's current one.
    pub async fn claim_checkpoint(
        &self,
        job: JobId,
        attempt: u32,
        delivery: u32,
    ) -> Result<Checkpoint, Error> {
        let transaction = self.connection.begin().await?;
        refuse_unless_current(&transaction, job, attempt).await?;
        let backend = transaction.get_database_backend();
        let values = vec![
            job.as_uuid().into(),
            write_i32("attempt", attempt)?.into(),
            write_i32("delivery", delivery)?.into(),
        ];
        let claim = || Statement::from_sql_and_values(backend, CLAIM, values.clone());
        let mut claimed = transaction.query_one(claim()).await?;
        if claimed.is_none() {
            // The attempt's first claim, over an older attempt's checkpoint: that one is
            // dropped and the claim made afresh.
            let drop_older =
                Statement::from_sql_and_values(backend, DROP_OLDER, values[..2].to_vec());
            transaction.execute(drop_older).await?;
            claimed = transaction.query_one(claim()).await?;
        }
        let row = claimed.ok_or_else(|| {
            Error::Corrupt(format!("claiming the checkpoint of job {job} returned no row"))
        })?;
        let checkpoint = Checkpoint {
            attempt,
            delivery: read_u32("delivery", row.try_get_by_index::<i32>(0)?)?,
            rows_committed: read_u64("rows_committed", row.try_get_by_index(1)?)?,
            rows_created: read_u64("rows_created", row.try_get_by_index(2)?)?,
            rows_updated: read_u64("rows_updated", row.try_get_by_index(3)?)?,
            rows_unchanged: read_u64("rows_unchanged", row.try_get_by_index(4)?)?,
            rows_rejected: read_u64("rows_rejected", row.try_get_by_index(5)?)?,
            results_written: row.try_get_by_index(6)?,
        };
        if checkpoint.delivery > delivery {
            return Err(Error::TakenOver { job, attempt, delivery, by: checkpoint.delivery });
        }
        if checkpoint.rows_committed == 0 {
            forget_keys(&transaction, job).await?;
        }
        transaction.commit().await?;
        Ok(checkpoint)
    }

    /// Refuses unless delivery `delivery` of `attempt` of `job` may still write: the
    /// attempt is current ([`Error::Superseded`]) and no newer delivery claimed the
    /// checkpoint ([`Error::TakenOver`]). Asked before the results file is stored.
    pub async fn ensure_current_delivery(
        &self,
        job: JobId,
        attempt: u32,
        delivery: u32,
    ) -> Result<(), Error> {
        // Two reads, no transaction: the answer is a check before the file is stored,
        // and holding it in a transaction would not make it hold any longer.
        refuse_unless_current(&self.connection, job, attempt).await?;
        refuse_unless_newest(&self.connection, job, attempt, delivery).await
    }

    /// Records that delivery `delivery` of `attempt` of upload job `job` has stored its
    /// complete results file. Nothing happens when the checkpoint belongs to another
    /// attempt, or to none; [`Error::TakenOver`] when a newer delivery claimed it.
    ///
    /// The attempt has written all it will, so the keys it claimed are forgotten in the
    /// same transaction, unless `attempt` is no longer the job's current one (they are
    /// then a newer attempt's).
    pub async fn mark_results_written(
        &self,
        job: JobId,
        attempt: u32,
        delivery: u32,
    ) -> Result<(), Error> {
        let transaction = self.connection.begin().await?;
        let backend = transaction.get_database_backend();
        let values = [
            job.as_uuid().into(),
            write_i32("attempt", attempt)?.into(),
            write_i32("delivery", delivery)?.into(),
        ];
        let marked = Statement::from_sql_and_values(backend, MARK_RESULTS_WRITTEN, values);
        if let Some(row) = transaction.query_one(marked).await? {
            let by = read_u32("delivery", row.try_get_by_index::<i32>(0)?)?;
            if by > delivery {
                return Err(Error::TakenOver { job, attempt, delivery, by });
            }
        }
        match refuse_unless_current(&transaction, job, attempt).await {
            Ok(()) => {
                forget_keys(&transaction, job).await?;
            }
            Err(Error::Superseded { .. }) => {}
            Err(error) => return Err(error),
        }
        transaction.commit().await?;
        Ok(())
    }
}

/// The checkpoint a stored row holds.
fn row_checkpoint(row: &job_checkpoints::Model) -> Result<Checkpoint, Error> {
    Ok(Checkpoint {
        attempt: read_u32("attempt", row.attempt)?,
        delivery: read_u32("delivery", row.delivery)?,
        rows_committed: read_u64("rows_committed", row.rows_committed)?,
        rows_created: read_u64("rows_created", row.rows_created)?,
        rows_updated: read_u64("rows_updated", row.rows_updated)?,
        rows_unchanged: read_u64("rows_unchanged", row.rows_unchanged)?,
        rows_rejected: read_u64("rows_rejected", row.rows_rejected)?,
        results_written: row.results_written,
    })
}

/// Refuses ([`Error::TakenOver`]) when a delivery newer than `delivery` claimed the
/// checkpoint of `attempt` of `job`, holding the row's share lock for the rest of
/// `transaction`.
async fn refuse_unless_newest(
    transaction: &impl ConnectionTrait,
    job: JobId,
    attempt: u32,
    delivery: u32,
) -> Result<(), Error> {
    let backend = transaction.get_database_backend();
    let sql = "SELECT delivery FROM catalog.job_checkpoints \
               WHERE job_id = $1 AND attempt = $2 FOR SHARE";
    let values = [job.as_uuid().into(), write_i32("attempt", attempt)?.into()];
    let row = transaction.query_one(Statement::from_sql_and_values(backend, sql, values)).await?;
    let Some(row) = row else { return Ok(()) };
    let by = read_u32("delivery", row.try_get_by_index::<i32>(0)?)?;
    if by > delivery {
        return Err(Error::TakenOver { job, attempt, delivery, by });
    }
    Ok(())
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
/// upsert makes concurrent deliveries settle this one batch at a time. A batch of a
/// delivery older than the one that claimed the checkpoint is refused with
/// [`Error::TakenOver`].
pub(crate) async fn write_checkpoint(
    transaction: &DatabaseTransaction,
    job: JobId,
    after: &Checkpoint,
    applied: &AppliedBatch,
    first_row: u64,
) -> Result<(), Error> {
    let after = after.plus(applied);
    let row = job_checkpoints::ActiveModel {
        job_id: Set(job.as_uuid()),
        attempt: Set(write_i32("attempt", after.attempt)?),
        delivery: Set(write_i32("delivery", after.delivery)?),
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
    let stored_delivery = (job_checkpoints::Entity, job_checkpoints::Column::Delivery);
    // A newer attempt starts afresh; the same attempt only moves forward past rows no
    // other delivery committed, and only for the newest delivery that claimed it.
    let not_overtaken =
        Expr::col(stored).ne(write_i32("attempt", after.attempt)?).or(Expr::col(stored_committed)
            .lt(write_i64("first_row", first_row)?)
            .and(Expr::col(stored_delivery).lte(write_i32("delivery", after.delivery)?)));
    let written = job_checkpoints::Entity::insert(row)
        .on_conflict(
            OnConflict::column(job_checkpoints::Column::JobId)
                .update_columns([
                    job_checkpoints::Column::Attempt,
                    job_checkpoints::Column::Delivery,
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
        let stored = job_checkpoints::Entity::find_by_id(job.as_uuid()).one(transaction).await?;
        let (by, committed) = match stored {
            Some(row) => (
                read_u32("delivery", row.delivery)?,
                read_u64("rows_committed", row.rows_committed)?,
            ),
            None => (0, 0),
        };
        let (attempt, delivery) = (after.attempt, after.delivery);
        if by > delivery {
            return Err(Error::TakenOver { job, attempt, delivery, by });
        }
        return Err(Error::Overtaken { job, attempt, committed });
    }
    Ok(())
}
