//! Operators' actions on a job (jobsctl), recorded in its message log with the
//! operator as the actor.

use bgjobs_domain::{AccountId, EventKind, JobId, JobStatus, state_machine};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{Job, database_clock};
use crate::convert::write_i32;
use crate::entities::{job_events as log_rows, jobs as job_rows};
use crate::{Error, JobsStore};

/// Why a dead-lettered job message cannot be replayed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReplayable {
    /// A worker may still hold the job; replaying would run it twice at once.
    #[error(
        "job {job} is In Progress (attempt {attempt}): a worker may still be running it; \
         replay it once it is Error (dead-lettering or stall recovery moves it there)"
    )]
    InProgress {
        /// The job.
        job: JobId,
        /// Its current attempt.
        attempt: u32,
    },
    /// The job finished; its dead letter has nothing left to do.
    #[error("job {job} is Completed; its dead-lettered message has nothing left to do")]
    Completed {
        /// The job.
        job: JobId,
    },
}

impl JobsStore {
    /// Records that `operator` replays the dead-lettered message of `job` because of
    /// `reason`, and returns the job as it must be published.
    ///
    /// A job in Error goes back to New on its next attempt (like Retry, with the
    /// operator as Updated By); a job still New keeps its attempt and status (its message
    /// was dead-lettered before any worker reported on it). Either way one line "<operator>
    /// replayed the job from the dead-letter queue: <reason>" is added to its log, in the
    /// same transaction. `None` when the account has no such job.
    pub async fn replay_dead_letter(
        &self,
        account: &AccountId,
        job: JobId,
        operator: &str,
        reason: &str,
    ) -> Result<Option<Job>, Error> {
        let transaction = self.connection.begin().await?;
        let Some(row) = job_rows::Entity::find_by_id(job.as_uuid())
            .filter(job_rows::Column::AccountId.eq(account.as_str()))
            .lock_exclusive()
            .one(&transaction)
            .await?
        else {
            return Ok(None);
        };
        let before = Job::try_from(row)?;
        let action = format!("{operator} replayed the job from the dead-letter queue: {reason}");
        let replayed = match before.status {
            JobStatus::Error => {
                let message = format!("{action}; queued as attempt {}", before.attempt + 1);
                requeue(&transaction, &before, operator, &message).await?
            }
            JobStatus::New => {
                log_line(
                    Uuid::now_v7(),
                    &before,
                    before.attempt,
                    before.status,
                    operator,
                    &action,
                )?
                .exec(&transaction)
                .await?;
                before
            }
            JobStatus::InProgress => {
                return Err(NotReplayable::InProgress { job, attempt: before.attempt }.into());
            }
            JobStatus::Completed => return Err(NotReplayable::Completed { job }.into()),
        };
        transaction.commit().await?;
        Ok(Some(replayed))
    }
}

/// Moves the locked job `before` (in Error) to New on its next attempt, as Retry does,
/// made by `actor` and explained by `message` (the log line and the job's message).
async fn requeue(
    transaction: &DatabaseTransaction,
    before: &Job,
    actor: &str,
    message: &str,
) -> Result<Job, Error> {
    let after = state_machine::retry(&before.state())?;
    log_line(Uuid::now_v7(), before, after.attempt, after.status, actor, message)?
        .exec(transaction)
        .await?;
    // A new attempt starts from nothing: its worker reports its own counters and
    // results file, and its events are ordered afresh.
    let mut updated = job_rows::Entity::update_many()
        .col_expr(job_rows::Column::Status, Expr::value(after.status.as_str()))
        .col_expr(job_rows::Column::Attempt, Expr::value(write_i32("attempt", after.attempt)?))
        .col_expr(job_rows::Column::Message, Expr::value(message))
        .col_expr(job_rows::Column::RowsTotal, Expr::value(0i64))
        .col_expr(job_rows::Column::RowsProcessed, Expr::value(0i64))
        .col_expr(job_rows::Column::RowsRejected, Expr::value(0i64))
        .col_expr(job_rows::Column::ResultObjectKey, Expr::value(Option::<String>::None))
        .col_expr(job_rows::Column::LastAttempt, Expr::value(Option::<i32>::None))
        .col_expr(job_rows::Column::LastDelivery, Expr::value(Option::<i32>::None))
        .col_expr(job_rows::Column::LastSequence, Expr::value(Option::<i64>::None))
        .col_expr(job_rows::Column::UpdatedBy, Expr::value(actor))
        .col_expr(job_rows::Column::UpdatedAt, database_clock())
        .filter(job_rows::Column::JobId.eq(before.job_id.as_uuid()))
        .exec_with_returning(transaction)
        .await?;
    let row = updated
        .pop()
        .ok_or_else(|| Error::Corrupt(format!("job {} vanished while locked", before.job_id)))?;
    Job::try_from(row)
}

/// The insert of line `event_id` in `job`'s log, written by someone other than its
/// worker: kind Log at delivery 0, sequence 0 of `attempt` (it sorts before that
/// attempt's worker events and changes nothing the state machine reads).
pub(super) fn log_line(
    event_id: Uuid,
    job: &Job,
    attempt: u32,
    status_after: JobStatus,
    actor: &str,
    message: &str,
) -> Result<sea_orm::Insert<log_rows::ActiveModel>, Error> {
    let row = log_rows::ActiveModel {
        event_id: Set(event_id),
        job_id: Set(job.job_id.as_uuid()),
        account_id: Set(job.account_id.as_str().to_owned()),
        attempt: Set(write_i32("attempt", attempt)?),
        delivery: Set(0),
        sequence: Set(0),
        kind: Set(EventKind::Log.as_str().to_owned()),
        message: Set(message.to_owned()),
        status_before: Set(job.status.as_str().to_owned()),
        status_after: Set(status_after.as_str().to_owned()),
        ignored: Set(false),
        ignore_reason: Set(None),
        actor: Set(actor.to_owned()),
        rows_total: Set(None),
        rows_processed: Set(None),
        rows_rejected: Set(None),
        occurred_at: Set(Utc::now()),
        recorded_at: NotSet,
        held: Set(false),
        result_object_key: Set(None),
    };
    Ok(log_rows::Entity::insert(row))
}
