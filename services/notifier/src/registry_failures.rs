//! Outcomes no job event reports: the registry itself moves a job to Error when its
//! message is dead-lettered or its worker is lost for good. These are read from the
//! registry's message log every few seconds and recorded like a Failed event.

use std::sync::Arc;
use std::time::Duration;

use bgjobs_database::notifications::NotificationsStore;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the registry's log is read.
const INTERVAL: Duration = Duration::from_secs(5);

/// Records the registry's moves to Error until `shutdown`, waking the sender through
/// `recorded` when there are new ones; each is retried for `give_up_after`.
pub async fn watch(
    store: NotificationsStore,
    give_up_after: Duration,
    recorded: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        match store.record_registry_failures(give_up_after).await {
            Ok(0) => {}
            Ok(new) => {
                tracing::info!(new, "jobs the registry moved to Error recorded for their email");
                recorded.notify_one();
            }
            Err(error) => tracing::warn!(%error, "reading the registry's moves to Error failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
