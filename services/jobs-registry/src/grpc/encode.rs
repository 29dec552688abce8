//! Store records as wire messages.

use bgjobs_database::jobs::{Counters, Job, LogEntry};
use bgjobs_proto::convert::{
    event_kind_to_proto, job_status_to_proto, job_type_to_proto, timestamp,
};
use bgjobs_proto::v1;

/// A job as the wire carries it; absent optional texts are empty strings.
pub fn job(job: Job) -> v1::Job {
    v1::Job {
        job_id: job.job_id.to_string(),
        account_id: job.account_id.to_string(),
        job_type: job_type_to_proto(job.job_type) as i32,
        status: job_status_to_proto(job.status) as i32,
        attempt: job.attempt,
        message: job.message,
        input_object_key: job.input_object_key.unwrap_or_default(),
        result_object_key: job.result_object_key.unwrap_or_default(),
        original_file_name: job.original_file_name.unwrap_or_default(),
        parameters_json: job.parameters.to_string(),
        reference_ids: Some(v1::ReferenceIds {
            client_id: job.reference_ids.client_id.unwrap_or_default(),
            user_id: job.reference_ids.user_id.unwrap_or_default(),
            warehouse_id: job.reference_ids.warehouse_id.unwrap_or_default(),
        }),
        counters: Some(counters(job.counters)),
        created_by: job.created_by,
        created_at: Some(timestamp(job.created_at)),
        updated_by: job.updated_by,
        updated_at: Some(timestamp(job.updated_at)),
        notify: job.notify.map(|notify| v1::Recipient {
            email: notify.email,
            time_zone: notify.time_zone.unwrap_or_default(),
        }),
    }
}

/// A line of the message log as the wire carries it.
pub fn log_entry(entry: LogEntry) -> v1::LogEntry {
    v1::LogEntry {
        event_id: entry.event_id.to_string(),
        attempt: entry.position.attempt,
        sequence: entry.position.sequence,
        kind: event_kind_to_proto(entry.kind) as i32,
        message: entry.message,
        status_before: job_status_to_proto(entry.status_before) as i32,
        status_after: job_status_to_proto(entry.status_after) as i32,
        ignored: entry.ignored,
        ignore_reason: entry.ignore_reason.unwrap_or_default(),
        actor: entry.actor,
        occurred_at: Some(timestamp(entry.occurred_at)),
        recorded_at: Some(timestamp(entry.recorded_at)),
        counters: entry.counters.map(counters),
        delivery: entry.position.delivery,
    }
}

fn counters(counters: Counters) -> v1::Counters {
    v1::Counters {
        rows_total: counters.rows_total,
        rows_processed: counters.rows_processed,
        rows_rejected: counters.rows_rejected,
    }
}
