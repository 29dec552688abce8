//! Helpers shared by the messaging tests: sample messages and bounded waits.

#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use anyhow::Context;
use bgjobs_domain::JobId;
use bgjobs_proto::v1::{EventKind, JobEvent, JobMessage, JobType, ReferenceIds};
use futures::{Stream, StreamExt};

/// How long a test waits for something that should happen within milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A traceparent as W3C Trace Context writes them.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A product upload job message for a new job.
pub fn job_message() -> JobMessage {
    JobMessage {
        job_id: JobId::new().to_string(),
        account_id: "acme".to_owned(),
        job_type: JobType::ProductUpload.into(),
        attempt: 1,
        input_object_key: "uploads/acme/x/input.csv".to_owned(),
        parameters_json: r#"{"all_or_nothing":false}"#.to_owned(),
        reference_ids: Some(ReferenceIds {
            client_id: "client-1".to_owned(),
            ..Default::default()
        }),
        created_by: "user-1".to_owned(),
    }
}

/// A progress event of `job` with the given per-attempt sequence number.
pub fn job_event(job: JobId, sequence: u64) -> JobEvent {
    JobEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        job_id: job.to_string(),
        account_id: "acme".to_owned(),
        attempt: 1,
        sequence,
        kind: EventKind::Progress.into(),
        message: format!("step {sequence}"),
        worker_id: "test/1".to_owned(),
        delivery: 1,
        ..Default::default()
    }
}

/// The next item of `stream`, failing after [`DEADLINE`] or when the stream ends.
pub async fn next<S, T, E>(stream: &mut S) -> anyhow::Result<T>
where
    S: Stream<Item = Result<T, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let item = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .with_context(|| format!("nothing arrived within {DEADLINE:?}"))?
        .context("the stream ended")?;
    Ok(item?)
}
