//! The JSON the REST API answers with, made from the registry's protobuf messages.

use bgjobs_domain::{EventKind, JobStatus, JobType};
use bgjobs_proto::convert::{
    event_kind_from_proto, from_timestamp, job_status_from_proto, job_type_from_proto,
};
use bgjobs_proto::v1;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;

/// A job as the page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    /// The job's id (UUIDv7).
    pub id: String,
    /// `product-upload`, `warehouse-upload` or `delete-client`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// "Product Upload", "Warehouse Upload" or "Delete Client".
    pub type_label: String,
    /// `new`, `in_progress`, `completed` or `error`.
    pub status: String,
    /// "New", "In Progress", "Completed" or "Error".
    pub status_label: String,
    /// 1 for the first run, +1 per retry.
    pub attempt: u32,
    /// The latest message.
    pub message: String,
    /// When the job was created (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: String,
    /// When it last changed (UTC).
    pub updated_at: Option<DateTime<Utc>>,
    /// Who made the last change (a user, or a worker).
    pub updated_by: String,
    /// Grows with every change of the job (its last change's time, in microseconds
    /// since 1970): of two copies of a job, the one with the larger version is newer,
    /// whichever arrived last.
    pub version: i64,
    /// The uploaded file's name, for uploads.
    pub file_name: Option<String>,
    /// Whether a results file can be downloaded.
    pub has_results: bool,
    /// The job's parameters.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// The client, user and warehouse the job concerns.
    pub reference_ids: ReferenceIdsView,
    /// Row counters.
    pub counters: CountersView,
    /// Who is emailed when the job ends; null when nobody is.
    pub notify: Option<RecipientView>,
    /// In Progress with no news for longer than the stall threshold.
    pub stalled: bool,
    /// Whether the caller may retry it now (Error, and the caller has the retry role).
    pub can_retry: bool,
}

/// Reference ids; absent when not relevant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferenceIdsView {
    /// The client.
    pub client_id: Option<String>,
    /// The user.
    pub user_id: Option<String>,
    /// The warehouse.
    pub warehouse_id: Option<String>,
}

/// Who is emailed when a job ends.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecipientView {
    /// The address: that of the user who started the job.
    pub email: String,
    /// The IANA time zone the email's times are shown in; null for UTC.
    pub time_zone: Option<String>,
}

/// Row counters reported by the worker.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountersView {
    /// Rows in the file (or to delete), once known.
    pub rows_total: u64,
    /// Rows handled so far.
    pub rows_processed: u64,
    /// Rows refused.
    pub rows_rejected: u64,
}

/// One page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// Pass as `page_token` for the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// One line of a job's message log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogLine {
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Which attempt it belongs to.
    pub attempt: u32,
    /// `started`, `progress`, `log`, `completed` or `failed`.
    pub kind: String,
    /// The message.
    pub message: String,
    /// The status after this line.
    pub status_after: String,
    /// Who reported it.
    pub actor: String,
    /// True when the event was recorded but changed nothing (late, duplicate, old attempt).
    pub ignored: bool,
    /// Why it changed nothing.
    pub ignore_reason: Option<String>,
}

/// A job's details: the job and its log.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetails {
    /// The job.
    pub job: JobView,
    /// Its message log, oldest first.
    pub log: Vec<LogLine>,
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn status_of(value: i32) -> Option<JobStatus> {
    job_status_from_proto(value)
}

impl JobView {
    /// The page's view of `job` for `caller`; `stall_after` is the stall threshold.
    pub fn new(job: v1::Job, caller: &Caller, stall_after: chrono::TimeDelta) -> Self {
        let job_type = job_type_from_proto(job.job_type);
        let status = status_of(job.status);
        let updated_at = job.updated_at.as_ref().and_then(from_timestamp);
        let stalled = status == Some(JobStatus::InProgress)
            && updated_at.is_some_and(|at| Utc::now() - at > stall_after);
        let references = job.reference_ids.unwrap_or_default();
        let counters = job.counters.unwrap_or_default();
        Self {
            id: job.job_id,
            job_type: job_type.map_or("unknown", JobType::as_str).to_owned(),
            type_label: job_type.map_or("Unknown", JobType::display_name).to_owned(),
            status: status.map_or("unknown", JobStatus::as_str).to_owned(),
            status_label: status.map_or("Unknown", JobStatus::display_name).to_owned(),
            attempt: job.attempt,
            message: job.message,
            created_at: job.created_at.as_ref().and_then(from_timestamp),
            created_by: job.created_by,
            version: updated_at.map_or(0, |at| at.timestamp_micros()),
            updated_at,
            updated_by: job.updated_by,
            file_name: non_empty(job.original_file_name),
            has_results: status == Some(JobStatus::Completed) && !job.result_object_key.is_empty(),
            parameters: serde_json::from_str(&job.parameters_json)
                .unwrap_or(serde_json::Value::Null),
            reference_ids: ReferenceIdsView {
                client_id: non_empty(references.client_id),
                user_id: non_empty(references.user_id),
                warehouse_id: non_empty(references.warehouse_id),
            },
            counters: CountersView {
                rows_total: counters.rows_total,
                rows_processed: counters.rows_processed,
                rows_rejected: counters.rows_rejected,
            },
            notify: job.notify.filter(|notify| !notify.email.is_empty()).map(|notify| {
                RecipientView { email: notify.email, time_zone: non_empty(notify.time_zone) }
            }),
            stalled,
            can_retry: status == Some(JobStatus::Error) && caller.can_retry,
        }
    }
}

impl From<v1::LogEntry> for LogLine {
    fn from(entry: v1::LogEntry) -> Self {
        Self {
            occurred_at: entry.occurred_at.as_ref().and_then(from_timestamp),
            attempt: entry.attempt,
            kind: event_kind_from_proto(entry.kind).map_or("unknown", EventKind::as_str).to_owned(),
            message: entry.message,
            status_after: status_of(entry.status_after)
                .map_or("unknown", JobStatus::as_str)
                .to_owned(),
            actor: entry.actor,
            ignored: entry.ignored,
            ignore_reason: non_empty(entry.ignore_reason),
        }
    }
}
