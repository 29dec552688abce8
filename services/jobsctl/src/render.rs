//! How jobs and log entries are printed.

use bgjobs_proto::convert::{from_timestamp, job_status_from_proto, job_type_from_proto};
use bgjobs_proto::v1::{Job, LogEntry};
use bgjobs_proto::{Timestamp, v1};

/// A timestamp as `2026-11-28 17:35:07.123Z`, or `-`.
pub fn time(timestamp: Option<&Timestamp>) -> String {
    timestamp
        .and_then(from_timestamp)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

/// The display name of a wire status.
pub fn status(value: i32) -> &'static str {
    job_status_from_proto(value).map(|status| status.display_name()).unwrap_or("?")
}

/// One line per job for `jobs list`.
pub fn job_line(job: &Job) -> String {
    let job_type = job_type_from_proto(job.job_type).map(|t| t.display_name()).unwrap_or("?");
    format!(
        "{}  {:<16}  {:<11}  {}  {:<12}  {}",
        job.job_id,
        job_type,
        status(job.status),
        time(job.created_at.as_ref()),
        job.created_by,
        job.message
    )
}

/// The full description of a job for `jobs show`.
pub fn job_details(job: &Job) -> String {
    let job_type = job_type_from_proto(job.job_type).map(|t| t.display_name()).unwrap_or("?");
    let counters = job.counters.unwrap_or_default();
    let references = job.reference_ids.clone().unwrap_or_default();
    [
        format!("job:          {}", job.job_id),
        format!("type:         {job_type}"),
        format!("status:       {} (attempt {})", status(job.status), job.attempt),
        format!("message:      {}", job.message),
        format!(
            "rows:         {} processed, {} rejected, {} total",
            counters.rows_processed, counters.rows_rejected, counters.rows_total
        ),
        format!("created:      {} by {}", time(job.created_at.as_ref()), job.created_by),
        format!("last updated: {} by {}", time(job.updated_at.as_ref()), job.updated_by),
        format!("client:       {}", references.client_id),
        format!("input:        {} ({})", job.input_object_key, job.original_file_name),
        format!("results:      {}", job.result_object_key),
        format!("parameters:   {}", job.parameters_json),
    ]
    .join("\n")
}

/// One line of the message log.
pub fn log_line(entry: &LogEntry) -> String {
    let kind = v1::EventKind::try_from(entry.kind)
        .map(|kind| kind.as_str_name().trim_start_matches("EVENT_KIND_").to_lowercase())
        .unwrap_or_else(|_| "?".to_owned());
    let transition = if entry.ignored {
        format!("ignored: {}", entry.ignore_reason)
    } else if entry.status_before == entry.status_after {
        status(entry.status_after).to_owned()
    } else {
        format!("{} -> {}", status(entry.status_before), status(entry.status_after))
    };
    format!(
        "{}  attempt {}  {:<9}  {:<24}  {}",
        time(entry.occurred_at.as_ref()),
        entry.attempt,
        kind,
        transition,
        entry.message
    )
}
