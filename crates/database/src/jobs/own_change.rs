//! A change of a job that no worker event carries: a retry, a stall recovery, a
//! dead-lettered message. It is written like an event would be: one line in the
//! message log and the job's new state, in the caller's transaction.

use bgjobs_domain::{EventKind, JobState};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::held::decide_held_events;
use super::{Job, database_clock};
use crate::Error;
use crate::convert::write_i32;
use crate::entities::{job_events as log_rows, jobs as job_rows};

/// A job's change to `after`, made by `actor` and explained by `message`.
pub(super) struct OwnChange<'a> {
    /// The job as locked by the caller.
    pub before: &'a Job,
    /// The state it moves to. A new attempt starts from nothing: its worker reports
    /// its own counters and results file, and its events are ordered afresh.
    pub after: JobState,
    /// The log line, which also becomes the job's message.
    pub message: String,
    /// Who made the change: a user for a retry, a service otherwise.
    pub actor: &'a str,
}

impl OwnChange<'_> {
    /// Writes the log line and the job's new state; the job's row must be locked by
    /// `transaction`.
    pub(super) async fn write(self, transaction: &DatabaseTransaction) -> Result<Job, Error> {
        let job = self.before.job_id;
        let attempt = write_i32("attempt", self.after.attempt)?;
        // Kind Log at delivery 0, sequence 0: the line sorts before every event of its
        // attempt, and nothing about it changes the state machine's input.
        let log_row = log_rows::ActiveModel {
            event_id: Set(Uuid::now_v7()),
            job_id: Set(job.as_uuid()),
            account_id: Set(self.before.account_id.as_str().to_owned()),
            attempt: Set(attempt),
            delivery: Set(0),
            sequence: Set(0),
            kind: Set(EventKind::Log.as_str().to_owned()),
            message: Set(self.message.clone()),
            status_before: Set(self.before.status.as_str().to_owned()),
            status_after: Set(self.after.status.as_str().to_owned()),
            ignored: Set(false),
            ignore_reason: Set(None),
            actor: Set(self.actor.to_owned()),
            rows_total: Set(None),
            rows_processed: Set(None),
            rows_rejected: Set(None),
            occurred_at: Set(Utc::now()),
            recorded_at: NotSet,
            held: Set(false),
            result_object_key: Set(None),
        };
        log_rows::Entity::insert(log_row).exec(transaction).await?;

        let mut update = job_rows::Entity::update_many()
            .col_expr(job_rows::Column::Status, Expr::value(self.after.status.as_str()))
            .col_expr(job_rows::Column::Message, Expr::value(self.message))
            .col_expr(job_rows::Column::UpdatedBy, Expr::value(self.actor))
            .col_expr(job_rows::Column::UpdatedAt, database_clock());
        if self.after.attempt != self.before.attempt {
            update = update
                .col_expr(job_rows::Column::Attempt, Expr::value(attempt))
                .col_expr(job_rows::Column::RowsTotal, Expr::value(0i64))
                .col_expr(job_rows::Column::RowsProcessed, Expr::value(0i64))
                .col_expr(job_rows::Column::RowsRejected, Expr::value(0i64))
                .col_expr(job_rows::Column::ResultObjectKey, Expr::value(Option::<String>::None))
                .col_expr(job_rows::Column::LastAttempt, Expr::value(Option::<i32>::None))
                .col_expr(job_rows::Column::LastDelivery, Expr::value(Option::<i32>::None))
                .col_expr(job_rows::Column::LastSequence, Expr::value(Option::<i64>::None));
        }
        let mut updated = update
            .filter(job_rows::Column::JobId.eq(job.as_uuid()))
            .exec_with_returning(transaction)
            .await?;
        let row = updated
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("job {job} vanished while locked")))?;
        // Events still held for an attempt this change ended can never apply now: their
        // log lines say why.
        decide_held_events(transaction, job.as_uuid(), self.after).await?;
        Job::try_from(row)
    }
}
