//! The `jobs` schema: job state, written only through these functions.

mod attempt_time;
pub(crate) mod client_lock;
mod events;
mod held;
mod lifecycle;
mod list;
mod notes;
mod operator;
mod own_change;
mod publishing;
mod watch;

use bgjobs_domain::{AccountId, EventPosition, JobId, JobState, JobStatus, JobType};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait,
    TransactionTrait,
};

use crate::convert::{parse, read_u32, read_u64};
use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

pub use client_lock::UNFINISHED;
pub use events::{IncomingEvent, LogEntry, RecordOutcome};
pub use lifecycle::REGISTRY_ACTOR;
pub use list::{Cursor, JobFilter, Page, PageRequest};
pub use notes::Note;
pub use operator::NotReplayable;

/// The message of a job that has been created and queued.
const QUEUED_MESSAGE: &str = "Queued";

/// The ids a job refers to, shown on the details page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceIds {
    /// The account's client the job works on.
    pub client_id: Option<String>,
    /// The user the job concerns.
    pub user_id: Option<String>,
    /// The warehouse the job concerns.
    pub warehouse_id: Option<String>,
}

/// Who is emailed when a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub email: String,
    /// The user's IANA time zone (e.g. `Europe/Paris`), when known; times are shown
    /// in UTC otherwise.
    pub time_zone: Option<String>,
}

/// How many rows a job has seen, processed and rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Rows in the input (as far as known).
    pub rows_total: u64,
    /// Rows handled so far, rejected ones included.
    pub rows_processed: u64,
    /// Rows that failed validation.
    pub rows_rejected: u64,
}

impl Counters {
    /// Counters as three nullable columns hold them: all null is none, all set is
    /// counters, anything else is corrupt (`what` names the row in the message).
    pub(crate) fn from_columns(
        what: &str,
        columns: (Option<i64>, Option<i64>, Option<i64>),
    ) -> Result<Option<Self>, Error> {
        match columns {
            (None, None, None) => Ok(None),
            (Some(total), Some(processed), Some(rejected)) => Ok(Some(Self {
                rows_total: read_u64("rows_total", total)?,
                rows_processed: read_u64("rows_processed", processed)?,
                rows_rejected: read_u64("rows_rejected", rejected)?,
            })),
            partial => Err(Error::Corrupt(format!("{what} counters are {partial:?}"))),
        }
    }
}

/// What is needed to register a job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The job's id, chosen by the caller so that registering is idempotent.
    pub job_id: JobId,
    /// The tenant the job belongs to.
    pub account_id: AccountId,
    /// What the job does.
    pub job_type: JobType,
    /// Where the input file is in S3, for uploads.
    pub input_object_key: Option<String>,
    /// The name of the uploaded file, kept for display only.
    pub original_file_name: Option<String>,
    /// Type-specific options, shown as JSON on the details page.
    pub parameters: serde_json::Value,
    /// The client, user and warehouse the job concerns.
    pub reference_ids: ReferenceIds,
    /// The user or service that asked for the job.
    pub created_by: String,
    /// Who is emailed when the job ends; `None` when nobody is.
    pub notify: Option<Recipient>,
}

/// A job as the page and the services see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job's id.
    pub job_id: JobId,
    /// The tenant the job belongs to.
    pub account_id: AccountId,
    /// What the job does.
    pub job_type: JobType,
    /// Where the job stands.
    pub status: JobStatus,
    /// 1 for the first run, +1 per retry.
    pub attempt: u32,
    /// The latest human-readable message.
    pub message: String,
    /// Where the input file is in S3, for uploads.
    pub input_object_key: Option<String>,
    /// Where the results file is in S3, once written.
    pub result_object_key: Option<String>,
    /// The name of the uploaded file, kept for display only.
    pub original_file_name: Option<String>,
    /// Type-specific options.
    pub parameters: serde_json::Value,
    /// The client, user and warehouse the job concerns.
    pub reference_ids: ReferenceIds,
    /// The latest counters reported by the worker.
    pub counters: Counters,
    /// The position of the last event applied in the current attempt.
    pub last_applied: Option<EventPosition>,
    /// Who asked for the job.
    pub created_by: String,
    /// When the job was registered.
    pub created_at: DateTime<Utc>,
    /// Who made the last change (a user for retries, a worker id for events).
    pub updated_by: String,
    /// When the last change was made.
    pub updated_at: DateTime<Utc>,
    /// Who is emailed when the job ends; `None` when nobody is.
    pub notify: Option<Recipient>,
}

impl Job {
    /// What the state machine needs to know of this job.
    pub fn state(&self) -> JobState {
        JobState { status: self.status, attempt: self.attempt, last_applied: self.last_applied }
    }
}

impl TryFrom<job_rows::Model> for Job {
    type Error = Error;

    fn try_from(row: job_rows::Model) -> Result<Self, Error> {
        let account_id = AccountId::parse(&row.account_id)
            .map_err(|_| Error::Corrupt(format!("account_id is '{}'", row.account_id)))?;
        let last_applied = match (row.last_attempt, row.last_delivery, row.last_sequence) {
            (None, None, None) => None,
            (Some(attempt), Some(delivery), Some(sequence)) => Some(EventPosition {
                attempt: read_u32("last_attempt", attempt)?,
                delivery: read_u32("last_delivery", delivery)?,
                sequence: read_u64("last_sequence", sequence)?,
            }),
            partial => return Err(Error::Corrupt(format!("last applied position is {partial:?}"))),
        };
        Ok(Self {
            job_id: JobId::from(row.job_id),
            account_id,
            job_type: parse("job_type", &row.job_type)?,
            status: parse("status", &row.status)?,
            attempt: read_u32("attempt", row.attempt)?,
            message: row.message,
            input_object_key: row.input_object_key,
            result_object_key: row.result_object_key,
            original_file_name: row.original_file_name,
            parameters: row.parameters,
            reference_ids: ReferenceIds {
                client_id: row.client_id,
                user_id: row.user_id,
                warehouse_id: row.warehouse_id,
            },
            counters: Counters {
                rows_total: read_u64("rows_total", row.rows_total)?,
                rows_processed: read_u64("rows_processed", row.rows_processed)?,
                rows_rejected: read_u64("rows_rejected", row.rows_rejected)?,
            },
            last_applied,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
            notify: row
                .notify_email
                .map(|email| Recipient { email, time_zone: row.notify_time_zone }),
        })
    }
}

/// The database's clock, read after the job's row lock is taken: later than every
/// change already recorded for the job, which `now()` (the transaction's start) is not.
fn database_clock() -> SimpleExpr {
    Expr::cust("clock_timestamp()")
}

impl JobsStore {
    /// Registers a job: status New, attempt 1, message "Queued".
    ///
    /// Idempotent on `job_id`: registering the same id again returns the existing job
    /// and `false`. The same id for another account is [`Error::Conflict`], which says
    /// nothing about the other job. A new job that names a client while a Delete
    /// Client job of that client is New or In Progress is [`Error::ClientLocked`],
    /// or [`Error::DeletionRunning`] for a second deletion (a dry run never is; see
    /// `client_lock`).
    pub async fn create_job(&self, new: NewJob) -> Result<(Job, bool), Error> {
        let transaction = self.connection.begin().await?;
        if let Some(client_id) = new.reference_ids.client_id.as_deref() {
            let guarded = client_lock::guard_registration(
                &transaction,
                &new.account_id,
                client_id,
                new.job_type,
                &new.parameters,
            )
            .await;
            if let Err(refusal @ (Error::ClientLocked { .. } | Error::DeletionRunning { .. })) =
                guarded
            {
                // A repeat of a registered job answers as before, whatever has
                // happened since; only a new job is refused.
                let existing =
                    job_rows::Entity::find_by_id(new.job_id.as_uuid()).one(&transaction).await?;
                return match existing {
                    Some(existing) => existing_job(existing, &new.account_id, new.job_id),
                    None => Err(refusal),
                };
            }
            guarded?;
        }
        let created = insert_job(&transaction, new).await?;
        transaction.commit().await?;
        Ok(created)
    }

    /// The job `job` of `account`; `None` when it does not exist or belongs to another account.
    pub async fn get_job(&self, account: &AccountId, job: JobId) -> Result<Option<Job>, Error> {
        job_rows::Entity::find_by_id(job.as_uuid())
            .filter(job_rows::Column::AccountId.eq(account.as_str()))
            .one(&self.connection)
            .await?
            .map(Job::try_from)
            .transpose()
    }
}

/// INSERT ... ON CONFLICT DO NOTHING RETURNING *: a row back means we created it.
async fn insert_job(connection: &impl ConnectionTrait, new: NewJob) -> Result<(Job, bool), Error> {
    let job_id = new.job_id;
    let account = new.account_id.clone();
    let row = job_rows::ActiveModel {
        job_id: Set(new.job_id.as_uuid()),
        account_id: Set(new.account_id.as_str().to_owned()),
        job_type: Set(new.job_type.as_str().to_owned()),
        status: Set(JobStatus::New.as_str().to_owned()),
        attempt: Set(1),
        message: Set(QUEUED_MESSAGE.to_owned()),
        input_object_key: Set(new.input_object_key),
        result_object_key: Set(None),
        original_file_name: Set(new.original_file_name),
        parameters: Set(new.parameters),
        client_id: Set(new.reference_ids.client_id),
        user_id: Set(new.reference_ids.user_id),
        warehouse_id: Set(new.reference_ids.warehouse_id),
        updated_by: Set(new.created_by.clone()),
        created_by: Set(new.created_by),
        notify_time_zone: Set(new.notify.as_ref().and_then(|notify| notify.time_zone.clone())),
        notify_email: Set(new.notify.map(|notify| notify.email)),
        // Counters, last applied position and timestamps take the table defaults.
        ..Default::default()
    };
    let mut insert = job_rows::Entity::insert(row)
        .on_conflict(OnConflict::column(job_rows::Column::JobId).do_nothing().to_owned())
        .into_query();
    insert.returning_all();
    let backend = connection.get_database_backend();
    let inserted =
        job_rows::Entity::find().from_raw_sql(backend.build(&insert)).one(connection).await?;
    if let Some(row) = inserted {
        return Ok((Job::try_from(row)?, true));
    }
    // Registered before: by an earlier request, or a concurrent one.
    let existing = job_rows::Entity::find_by_id(job_id.as_uuid())
        .one(connection)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("job {job_id} conflicted on insert but is gone")))?;
    existing_job(existing, &account, job_id)
}

/// The answer to registering a job id that is already registered: the job, unless it
/// belongs to another account.
fn existing_job(
    existing: job_rows::Model,
    account: &AccountId,
    job_id: JobId,
) -> Result<(Job, bool), Error> {
    if existing.account_id != account.as_str() {
        return Err(Error::Conflict(format!(
            "job id {job_id} is already in use; choose a new job id"
        )));
    }
    Ok((Job::try_from(existing)?, false))
}
