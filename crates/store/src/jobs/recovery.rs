//! Putting jobs back on track: retrying a failed job and finding stalled ones.

use bgjobs_domain::state_machine;
use bgjobs_domain::{AccountId, EventKind, JobId, JobStatus};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{Job, database_clock};
use crate::convert::write_i32;
use crate::entities::{job_events as log_rows, jobs as job_rows};
use crate::{Error, Store};

impl Store {
    /// Retry (DESIGN.md section 4): moves an Error job of `account` back to New on the
    /// next attempt, recorded as made by `requested_by`, with a line in the message log.
    ///
    /// `None` when the job does not exist for `account`; [`Error::NotRetryable`] when it
    /// is not in Error. Re-publishing the job message is the caller's job.
    pub async fn retry_job(
        &self,
        account: &AccountId,
        job: JobId,
        requested_by: &str,
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
        let after = state_machine::retry(&before.state())?;
        let attempt = write_i32("attempt", after.attempt)?;
        let message = format!("Retry requested by {requested_by}; queued as attempt {attempt}");

        // Kind Log at delivery 0, sequence 0: the log line sorts before every event of
        // the new attempt, and nothing about it changes the state machine's input.
        let log_row = log_rows::ActiveModel {
            event_id: Set(Uuid::now_v7()),
            job_id: Set(job.as_uuid()),
            account_id: Set(account.as_str().to_owned()),
            attempt: Set(attempt),
            delivery: Set(0),
            sequence: Set(0),
            kind: Set(EventKind::Log.as_str().to_owned()),
            message: Set(message.clone()),
            status_before: Set(before.status.as_str().to_owned()),
            status_after: Set(after.status.as_str().to_owned()),
            ignored: Set(false),
            ignore_reason: Set(None),
            actor: Set(requested_by.to_owned()),
            rows_total: Set(None),
            rows_processed: Set(None),
            rows_rejected: Set(None),
            occurred_at: Set(Utc::now()),
            recorded_at: NotSet,
        };
        log_rows::Entity::insert(log_row).exec(&transaction).await?;

        // A new attempt starts from nothing: its worker reports its own counters and
        // results file, and its events are ordered afresh.
        let mut updated = job_rows::Entity::update_many()
            .col_expr(job_rows::Column::Status, Expr::value(after.status.as_str()))
            .col_expr(job_rows::Column::Attempt, Expr::value(attempt))
            .col_expr(job_rows::Column::Message, Expr::value(message))
            .col_expr(job_rows::Column::RowsTotal, Expr::value(0i64))
            .col_expr(job_rows::Column::RowsProcessed, Expr::value(0i64))
            .col_expr(job_rows::Column::RowsRejected, Expr::value(0i64))
            .col_expr(job_rows::Column::ResultObjectKey, Expr::value(Option::<String>::None))
            .col_expr(job_rows::Column::LastAttempt, Expr::value(Option::<i32>::None))
            .col_expr(job_rows::Column::LastDelivery, Expr::value(Option::<i32>::None))
            .col_expr(job_rows::Column::LastSequence, Expr::value(Option::<i64>::None))
            .col_expr(job_rows::Column::UpdatedBy, Expr::value(requested_by))
            .col_expr(job_rows::Column::UpdatedAt, database_clock())
            .filter(job_rows::Column::JobId.eq(job.as_uuid()))
            .exec_with_returning(&transaction)
            .await?;
        let row = updated
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("job {job} vanished while locked")))?;
        transaction.commit().await?;
        Job::try_from(row).map(Some)
    }

    /// Jobs of every account in one of `statuses` whose last change is older than
    /// `updated_before`, least recently updated first, at most `limit`: the candidates of
    /// stall detection (In Progress without events) and of stuck-in-New recovery.
    pub async fn stale_jobs(
        &self,
        statuses: &[JobStatus],
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, Error> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        job_rows::Entity::find()
            .filter(job_rows::Column::Status.is_in(statuses.iter().map(|status| status.as_str())))
            .filter(job_rows::Column::UpdatedAt.lt(updated_before))
            .order_by_asc(job_rows::Column::UpdatedAt)
            .limit(u64::from(limit))
            .all(&self.connection)
            .await?
            .into_iter()
            .map(Job::try_from)
            .collect()
    }
}
