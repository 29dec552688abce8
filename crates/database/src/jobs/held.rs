//! Writing an applied event's change to its job, and deciding again the events held
//! until their Started arrived (`IgnoreReason::AwaitingStart`).
//!
//! Several registry replicas share the event consumer, so a job's Completed can be
//! applied before its Started. A held event is logged at once (ignored, `held`), and
//! every change of the job decides the held events of that job again, in position
//! order: those that now apply are applied and their log line moves to the moment
//! they were applied (so the log still reads as the job's story); those that can
//! never apply keep their line, with the reason why.

use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::state_machine::{self, Decision};
use bgjobs_domain::{AccountId, EventKind, EventPosition, JobId, JobState, JobStatus};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QueryTrait,
};
use uuid::Uuid;

use super::database_clock;
use crate::Error;
use crate::convert::{parse, read_u32, read_u64, write_i32, write_i64};
use crate::entities::{job_events as log_rows, jobs as job_rows};

/// What an applied event changes in its job's row.
pub(super) struct Change {
    /// The job's status after the event.
    pub status: JobStatus,
    /// The event's position, which becomes the last applied one.
    pub position: EventPosition,
    /// The worker that sent the event: the job's Updated By.
    pub actor: String,
    /// The event's message; an empty one leaves the job's message as it was.
    pub message: String,
    /// Rows total, processed and rejected, when the event carries counters.
    pub counters: Option<(i64, i64, i64)>,
    /// The results file, when the event names one.
    pub result_object_key: Option<String>,
}

impl Change {
    /// Writes the change to `job`'s row, which `transaction` has locked; returns
    /// whether events of the job are held, in the same round trip.
    ///
    /// Every held line was written under the row's lock, so once `transaction` holds
    /// it, this statement sees all of them.
    pub(super) async fn write(
        self,
        transaction: &DatabaseTransaction,
        job: Uuid,
    ) -> Result<bool, Error> {
        let mut update = job_rows::Entity::update_many()
            .col_expr(job_rows::Column::Status, Expr::value(self.status.as_str()))
            .col_expr(
                job_rows::Column::LastAttempt,
                Expr::value(write_i32("attempt", self.position.attempt)?),
            )
            .col_expr(
                job_rows::Column::LastDelivery,
                Expr::value(write_i32("delivery", self.position.delivery)?),
            )
            .col_expr(
                job_rows::Column::LastSequence,
                Expr::value(write_i64("sequence", self.position.sequence)?),
            )
            .col_expr(job_rows::Column::UpdatedBy, Expr::value(self.actor))
            .col_expr(job_rows::Column::UpdatedAt, database_clock());
        if !self.message.is_empty() {
            update = update.col_expr(job_rows::Column::Message, Expr::value(self.message));
        }
        if let Some((total, processed, rejected)) = self.counters {
            update = update
                .col_expr(job_rows::Column::RowsTotal, Expr::value(total))
                .col_expr(job_rows::Column::RowsProcessed, Expr::value(processed))
                .col_expr(job_rows::Column::RowsRejected, Expr::value(rejected));
        }
        if let Some(key) = self.result_object_key {
            update = update.col_expr(job_rows::Column::ResultObjectKey, Expr::value(key));
        }
        let mut update = update.filter(job_rows::Column::JobId.eq(job));
        QueryTrait::query(&mut update).returning(Query::returning().expr(Expr::cust_with_values(
            "EXISTS (SELECT 1 FROM jobs.job_events WHERE job_id = $1 AND held)",
            [job],
        )));
        let statement = update.build(transaction.get_database_backend());
        let row = transaction
            .query_one(statement)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("job {job} vanished while locked")))?;
        Ok(row.try_get_by_index::<bool>(0)?)
    }
}

/// Decides `job`'s held events again now that it is in `state` (its row locked by
/// `transaction`), applying in position order those that now apply. Returns the
/// job's status afterwards.
pub(super) async fn decide_held_events(
    transaction: &DatabaseTransaction,
    job: Uuid,
    mut state: JobState,
) -> Result<JobStatus, Error> {
    let held = log_rows::Entity::find()
        .filter(log_rows::Column::JobId.eq(job))
        .filter(log_rows::Column::Held.eq(true))
        .order_by_asc(log_rows::Column::Attempt)
        .order_by_asc(log_rows::Column::Delivery)
        .order_by_asc(log_rows::Column::Sequence)
        .all(transaction)
        .await?;
    for row in held {
        let position = EventPosition {
            attempt: read_u32("attempt", row.attempt)?,
            delivery: read_u32("delivery", row.delivery)?,
            sequence: read_u64("sequence", row.sequence)?,
        };
        let kind: EventKind = parse("kind", &row.kind)?;
        let line = log_rows::Entity::update_many()
            .filter(log_rows::Column::EventId.eq(row.event_id))
            .col_expr(log_rows::Column::Held, Expr::value(false));
        match state_machine::apply(&state, position, kind) {
            Decision::Ignore(reason) if reason.is_held() => {}
            Decision::Ignore(reason) => {
                line.col_expr(log_rows::Column::IgnoreReason, Expr::value(reason.to_string()))
                    .exec(transaction)
                    .await?;
            }
            Decision::Apply { status } => {
                let counters = match (row.rows_total, row.rows_processed, row.rows_rejected) {
                    (Some(total), Some(processed), Some(rejected)) => {
                        Some((total, processed, rejected))
                    }
                    _ => None,
                };
                Change {
                    status,
                    position,
                    actor: row.actor,
                    message: row.message,
                    counters,
                    // Held only after its key was checked; checked again all the
                    // same, so that no stored key is trusted.
                    result_object_key: row
                        .result_object_key
                        .filter(|key| is_own_results_key(&row.account_id, job, key)),
                }
                .write(transaction, job)
                .await?;
                line.col_expr(log_rows::Column::Ignored, Expr::value(false))
                    .col_expr(log_rows::Column::IgnoreReason, Expr::value(Option::<String>::None))
                    .col_expr(log_rows::Column::StatusBefore, Expr::value(state.status.as_str()))
                    .col_expr(log_rows::Column::StatusAfter, Expr::value(status.as_str()))
                    // The line takes the moment it applied, after the event it waited for.
                    .col_expr(log_rows::Column::RecordedAt, database_clock())
                    .exec(transaction)
                    .await?;
                state = JobState { status, attempt: state.attempt, last_applied: Some(position) };
            }
        }
    }
    Ok(state.status)
}

/// True when `key` is the results key of `job` of `account` (as stored).
fn is_own_results_key(account: &str, job: Uuid, key: &str) -> bool {
    AccountId::parse(account)
        .is_ok_and(|account| JobFile::Results.check(&account, JobId::from(job), key).is_ok())
}
