//! Waiting for the client's running uploads before deleting: the consumer's half of
//! the per-client lock (the registry refuses new uploads while the deletion is
//! unfinished; see `bgjobs_database::jobs::client_lock`).

use std::time::{Duration, Instant};

use bgjobs_consumer::Emitter;
use bgjobs_database::CatalogStore;
use bgjobs_domain::{AccountId, EventKind, JobStatus, JobType};

/// The job types that write a client's data, which a deletion must not overlap.
const CLIENT_WRITERS: [JobType; 1] = [JobType::ProductUpload];
/// The longest pause between two looks at the running uploads.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why the deletion cannot start yet.
#[derive(Debug)]
pub(crate) enum Blocked {
    /// An upload is still running after the configured wait; try the delivery later.
    StillRunning(String),
    /// The store or the event stream failed.
    Fault(String),
}

/// Returns once no upload of `client_id` is In Progress. Logs which upload it waits
/// for, and sends a Progress heartbeat at least every `heartbeat` so the deletion is
/// not taken for stalled. Uploads still New are not waited for: if they run after the
/// deletion, they fail because the client no longer exists.
pub(crate) async fn for_running_uploads(
    store: &CatalogStore,
    emitter: &mut Emitter,
    account: &AccountId,
    client_id: &str,
    heartbeat: Duration,
    limit: Duration,
) -> Result<(), Blocked> {
    let began = Instant::now();
    let mut last_event = Instant::now();
    let mut waiting_for = None;
    loop {
        let running = store
            .active_jobs_for_client(account, client_id, &CLIENT_WRITERS, &[JobStatus::InProgress])
            .await
            .map_err(|error| {
                Blocked::Fault(format!("looking for running uploads failed: {error}"))
            })?;
        let Some(&upload) = running.first() else { return Ok(()) };
        let message = format!("Waiting for upload {upload} of client '{client_id}' to finish");
        if began.elapsed() >= limit {
            return Err(Blocked::StillRunning(format!(
                "upload {upload} of client '{client_id}' is still running after {}s",
                limit.as_secs()
            )));
        }
        if waiting_for != Some(upload) {
            waiting_for = Some(upload);
            last_event = Instant::now();
            emitter
                .emit(EventKind::Log, message, None, None)
                .await
                .map_err(|error| Blocked::Fault(format!("publishing the log failed: {error}")))?;
        } else if last_event.elapsed() >= heartbeat {
            last_event = Instant::now();
            emitter
                .emit(EventKind::Progress, message, None, None)
                .await
                .map_err(|error| Blocked::Fault(format!("publishing progress failed: {error}")))?;
        }
        tokio::time::sleep(POLL_INTERVAL.min(heartbeat)).await;
    }
}
