//! Recording job events through the state machine, and reading the message log.

use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::state_machine::{self, Decision};
use bgjobs_domain::{
    AccountId, EventKind, EventPosition, IgnoreReason, JobId, JobState, JobStatus, JobType,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    TryInsertResult,
    sea_query::LockType,
};
use uuid::Uuid;

use super::attempt_time::ended_attempt;
use super::held::{Change, decide_held_events};
use super::{Counters, Job};
use crate::catalog::fence::{lock_job_excluding_writers, writable};
use crate::convert::{parse, read_u32, read_u64, write_i32, write_i64};
use crate::entities::{job_events as log_rows, jobs as job_rows};
use crate::{Error, JobsStore};

/// A job event as received from a worker (docs/architecture.md, "Contracts", JobEvent).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    /// The event's unique id; a second event with the same id is a duplicate.
    pub event_id: Uuid,
    /// The job the event is about.
    pub job_id: JobId,
    /// The account the job belongs to, as the worker was told.
    pub account_id: AccountId,
    /// Attempt, delivery and sequence of the event.
    pub position: EventPosition,
    /// What the event reports.
    pub kind: EventKind,
    /// When the worker produced the event.
    pub occurred_at: DateTime<Utc>,
    /// A human-readable line; when not empty it becomes the job's message.
    pub message: String,
    /// The worker's counters, if the event carries them.
    pub counters: Option<Counters>,
    /// Where the results file is in S3, if the event carries it; anything but the key
    /// derived from the account and the job id makes the event change nothing.
    pub result_object_key: Option<String>,
    /// The worker that sent the event; becomes the job's Updated By.
    pub worker_id: String,
}

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The event changed the job, which now has `status`; it is in the log.
    Applied {
        /// The job's status after the event (and the held events it released).
        status: JobStatus,
        /// The job's status before the event.
        from: JobStatus,
        /// The job's type.
        job_type: JobType,
        /// The job's counters, when the event ended it (the job entered Completed or
        /// Error): what the finished job reports.
        final_counters: Option<Counters>,
        /// When the event ended the job: how long the attempt ran, from its first
        /// Started to its end as the workers timed them (`None` if the log cannot say).
        ran_for: Option<std::time::Duration>,
    },
    /// The event is in the log but did not change the job.
    Ignored(IgnoreReason),
    /// An event with this id was already recorded; nothing was written.
    Duplicate,
    /// No such job for this account; nothing was written.
    UnknownJob,
}

/// One line of a job's message log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The event's id.
    pub event_id: Uuid,
    /// Attempt, delivery and sequence of the event.
    pub position: EventPosition,
    /// What the event reported.
    pub kind: EventKind,
    /// The event's message.
    pub message: String,
    /// The job's status before the event.
    pub status_before: JobStatus,
    /// The job's status after the event (the same when ignored).
    pub status_after: JobStatus,
    /// True when the event did not change the job.
    pub ignored: bool,
    /// Why the event did not change the job, in words.
    pub ignore_reason: Option<String>,
    /// Who sent the event: a worker id, or the user who asked for a retry.
    pub actor: String,
    /// The counters the event carried.
    pub counters: Option<Counters>,
    /// When the event was produced.
    pub occurred_at: DateTime<Utc>,
    /// When the registry recorded it.
    pub recorded_at: DateTime<Utc>,
}

impl TryFrom<log_rows::Model> for LogEntry {
    type Error = Error;

    fn try_from(row: log_rows::Model) -> Result<Self, Error> {
        let counters = Counters::from_columns(
            "event",
            (row.rows_total, row.rows_processed, row.rows_rejected),
        )?;
        Ok(Self {
            event_id: row.event_id,
            position: EventPosition {
                attempt: read_u32("attempt", row.attempt)?,
                delivery: read_u32("delivery", row.delivery)?,
                sequence: read_u64("sequence", row.sequence)?,
            },
            kind: parse("kind", &row.kind)?,
            message: row.message,
            status_before: parse("status_before", &row.status_before)?,
            status_after: parse("status_after", &row.status_after)?,
            ignored: row.ignored,
            ignore_reason: row.ignore_reason,
            actor: row.actor,
            counters,
            occurred_at: row.occurred_at,
            recorded_at: row.recorded_at,
        })
    }
}

/// Counters as the three bigint columns hold them.
struct StoredCounters {
    rows_total: i64,
    rows_processed: i64,
    rows_rejected: i64,
}

impl StoredCounters {
    fn new(counters: Counters) -> Result<Self, Error> {
        Ok(Self {
            rows_total: write_i64("rows_total", counters.rows_total)?,
            rows_processed: write_i64("rows_processed", counters.rows_processed)?,
            rows_rejected: write_i64("rows_rejected", counters.rows_rejected)?,
        })
    }
}

impl JobsStore {
    /// Records `event` in the job's message log and, when the state machine allows,
    /// applies it to the job, all in one transaction.
    ///
    /// Events for one job are serialised by a lock on its row, so concurrent deliveries
    /// are applied in turn against the latest state. An event that arrived before its
    /// Started is held and applied after it, so the state reached does not depend on
    /// the order in which a job's events arrive. An event whose results key is not the
    /// job's own is logged as ignored ([`IgnoreReason::ForeignResultKey`]) and its key
    /// kept nowhere.
    ///
    /// An event that ends the attempt (Completed or Failed, or one that releases a held
    /// end) waits for the job's open batches to commit, so that none commits after
    /// the end (see `catalog::fence`); Started, Progress and Log lines do not wait.
    pub async fn record_event(&self, event: IncomingEvent) -> Result<RecordOutcome, Error> {
        let ends = matches!(event.kind, EventKind::Completed | EventKind::Failed);
        if let Some(outcome) = self.record_event_in(&event, ends).await? {
            return Ok(outcome);
        }
        // The event released a held end: again, waiting for the batches this time.
        self.record_event_in(&event, true)
            .await?
            .ok_or_else(|| Error::Corrupt("an event needed the fence while holding it".into()))
    }

    /// [`JobsStore::record_event`] in one transaction: with `fenced`, after taking the
    /// job's fence lock exclusively; without it, `None` (and nothing written) when the
    /// event would end the attempt's right to write.
    async fn record_event_in(
        &self,
        event: &IncomingEvent,
        fenced: bool,
    ) -> Result<Option<RecordOutcome>, Error> {
        let position_attempt = write_i32("attempt", event.position.attempt)?;
        let position_delivery = write_i32("delivery", event.position.delivery)?;
        let position_sequence = write_i64("sequence", event.position.sequence)?;
        let counters = event.counters.map(StoredCounters::new).transpose()?;

        let transaction = self.connection.begin().await?;
        let row = if fenced {
            lock_job_excluding_writers(&transaction, event.job_id, Some(&event.account_id)).await?
        } else {
            job_rows::Entity::find_by_id(event.job_id.as_uuid())
                .filter(job_rows::Column::AccountId.eq(event.account_id.as_str()))
                .lock(LockType::NoKeyUpdate)
                .one(&transaction)
                .await?
        };
        let Some(row) = row else {
            return Ok(Some(RecordOutcome::UnknownJob));
        };
        let job = Job::try_from(row)?;
        let foreign_result_key = event.result_object_key.as_deref().is_some_and(|key| {
            JobFile::Results.check(&event.account_id, event.job_id, key).is_err()
        });
        let decision = if foreign_result_key {
            Decision::Ignore(IgnoreReason::ForeignResultKey { kind: event.kind })
        } else {
            state_machine::apply(&job.state(), event.position, event.kind)
        };
        let (status_after, ignore_reason) = match decision {
            Decision::Apply { status } => (status, None),
            Decision::Ignore(reason) => (job.status, Some(reason)),
        };

        let log_row = log_rows::ActiveModel {
            event_id: Set(event.event_id),
            job_id: Set(event.job_id.as_uuid()),
            account_id: Set(event.account_id.as_str().to_owned()),
            attempt: Set(position_attempt),
            delivery: Set(position_delivery),
            sequence: Set(position_sequence),
            kind: Set(event.kind.as_str().to_owned()),
            message: Set(event.message.clone()),
            status_before: Set(job.status.as_str().to_owned()),
            status_after: Set(status_after.as_str().to_owned()),
            ignored: Set(ignore_reason.is_some()),
            held: Set(ignore_reason.is_some_and(|reason| reason.is_held())),
            ignore_reason: Set(ignore_reason.map(|reason| reason.to_string())),
            actor: Set(event.worker_id.clone()),
            rows_total: Set(counters.as_ref().map(|counters| counters.rows_total)),
            rows_processed: Set(counters.as_ref().map(|counters| counters.rows_processed)),
            rows_rejected: Set(counters.as_ref().map(|counters| counters.rows_rejected)),
            // A foreign key is not kept anywhere, so nothing can ever read it back.
            result_object_key: Set(event.result_object_key.clone().filter(|_| !foreign_result_key)),
            occurred_at: Set(event.occurred_at),
            // The column defaults to clock_timestamp(), taken after the job lock.
            recorded_at: NotSet,
        };
        // The event id is unique across all jobs; a conflict means we have seen it.
        let inserted = log_rows::Entity::insert(log_row)
            .on_conflict(OnConflict::column(log_rows::Column::EventId).do_nothing().to_owned())
            .do_nothing()
            .exec(&transaction)
            .await?;
        if matches!(inserted, TryInsertResult::Conflicted) {
            // Dropping the transaction rolls it back; nothing was changed anyway.
            return Ok(Some(RecordOutcome::Duplicate));
        }

        if let Some(reason) = ignore_reason {
            transaction.commit().await?;
            return Ok(Some(RecordOutcome::Ignored(reason)));
        }

        let events_held = Change {
            status: status_after,
            position: event.position,
            actor: event.worker_id.clone(),
            message: event.message.clone(),
            counters: counters
                .map(|stored| (stored.rows_total, stored.rows_processed, stored.rows_rejected)),
            result_object_key: event.result_object_key.clone(),
        }
        .write(&transaction, event.job_id.as_uuid())
        .await?;
        let applied = JobState {
            status: status_after,
            attempt: event.position.attempt,
            last_applied: Some(event.position),
        };
        let status = if events_held {
            decide_held_events(&transaction, event.job_id.as_uuid(), applied).await?
        } else {
            status_after
        };
        if !fenced && writable(status) != writable(job.status) {
            return Ok(None);
        }
        let (final_counters, ran_for) = if status.is_terminal() && !job.status.is_terminal() {
            let (counters, ran_for) =
                ended_attempt(&transaction, event.job_id.as_uuid(), position_attempt).await?;
            (Some(counters), ran_for)
        } else {
            (None, None)
        };
        transaction.commit().await?;
        Ok(Some(RecordOutcome::Applied {
            status,
            from: job.status,
            job_type: job.job_type,
            final_counters,
            ran_for,
        }))
    }

    /// The message log of `job`, oldest first; `None` when the job does not exist for `account`.
    pub async fn job_events(
        &self,
        account: &AccountId,
        job: JobId,
    ) -> Result<Option<Vec<LogEntry>>, Error> {
        let exists = job_rows::Entity::find_by_id(job.as_uuid())
            .filter(job_rows::Column::AccountId.eq(account.as_str()))
            .select_only()
            .column(job_rows::Column::JobId)
            .into_tuple::<Uuid>()
            .one(&self.connection)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let rows = log_rows::Entity::find()
            .filter(log_rows::Column::JobId.eq(job.as_uuid()))
            .filter(log_rows::Column::AccountId.eq(account.as_str()))
            // Arrival order; the position only breaks ties of the clock.
            .order_by_asc(log_rows::Column::RecordedAt)
            .order_by_asc(log_rows::Column::Attempt)
            .order_by_asc(log_rows::Column::Delivery)
            .order_by_asc(log_rows::Column::Sequence)
            .all(&self.connection)
            .await?;
        rows.into_iter().map(LogEntry::try_from).collect::<Result<Vec<_>, _>>().map(Some)
    }
}
