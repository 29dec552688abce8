//! The recorder: reads job events from the notifier's own durable JetStream consumer
//! and records each terminal one (Completed, Failed) as a notification, acknowledging
//! an event only once it is recorded. Other events are acknowledged at once.

use std::sync::Arc;
use std::time::Duration;

use bgjobs_database::jobs::Counters;
use bgjobs_database::notifications::{Key, NewNotification, NotificationsStore, Outcome};
use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::{AccountId, JobId};
use bgjobs_messaging::events::ReceivedEvent;
use bgjobs_proto::convert::from_timestamp;
use bgjobs_proto::v1::{self, EventKind};
use chrono::Utc;
use futures::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The first pause after a failure to record; doubled after each further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause: a recovered database is noticed within this long.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Called once a terminal event is recorded and before it is acknowledged (the
/// fault tests plant a crash there).
pub type AfterRecord = Arc<dyn Fn(&Key) + Send + Sync>;

/// Records terminal job events as notifications.
pub struct Recorder {
    store: NotificationsStore,
    give_up_after: Duration,
    recorded: Arc<Notify>,
    after_record: Option<AfterRecord>,
}

impl Recorder {
    /// A recorder writing through `store`, waking `recorded` after each new
    /// notification; an email is retried for `give_up_after` from when it is recorded.
    pub fn new(
        store: NotificationsStore,
        give_up_after: Duration,
        recorded: Arc<Notify>,
        after_record: Option<AfterRecord>,
    ) -> Self {
        Self { store, give_up_after, recorded, after_record }
    }

    /// What wakes the sender when a new notification is recorded.
    pub fn recorded(&self) -> Arc<Notify> {
        Arc::clone(&self.recorded)
    }

    /// Handles events until `shutdown` is cancelled; the event in hand is finished
    /// first. While the database is unavailable the event is retried in place, never
    /// acknowledged unrecorded. Fails only when the event stream ends (the NATS
    /// connection is gone for good): the process should then restart.
    pub async fn run<S, E>(self, mut events: S, shutdown: CancellationToken) -> anyhow::Result<()>
    where
        S: Stream<Item = Result<ReceivedEvent, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut pause = FIRST_BACKOFF;
        loop {
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                next = events.next() => next,
            };
            let received = match next {
                Some(Ok(received)) => received,
                Some(Err(error)) => {
                    tracing::warn!(%error, "receiving job events failed");
                    sleep_unless_stopped(&mut pause, &shutdown).await;
                    continue;
                }
                None => anyhow::bail!("the job event stream ended"),
            };
            let settled = match terminal(&received.event, self.give_up_after) {
                Ok(None) => received.ack().await,
                Ok(Some(new)) => {
                    if !self.record(&new, &mut pause, &shutdown).await {
                        // Stopping with the event unrecorded: it comes back after the ack wait.
                        return Ok(());
                    }
                    received.ack().await
                }
                Err(reason) => {
                    tracing::error!(
                        job_id = %received.event.job_id,
                        reason,
                        "terminating a job event that can never be notified"
                    );
                    received.term().await
                }
            };
            if let Err(error) = settled {
                // Redelivery is harmless: the notification's key makes it a repeat.
                tracing::warn!(%error, "settling a job event failed");
            }
        }
    }

    /// Records `new`, retrying while the database fails; `false` when stopped first.
    async fn record(
        &self,
        new: &NewNotification,
        pause: &mut Duration,
        shutdown: &CancellationToken,
    ) -> bool {
        loop {
            match self.store.record(new).await {
                Ok(created) => {
                    *pause = FIRST_BACKOFF;
                    tracing::info!(
                        job_id = %new.key.job_id,
                        attempt = new.key.attempt,
                        outcome = new.key.outcome.as_str(),
                        created,
                        "job outcome recorded for its email"
                    );
                    if let Some(hook) = &self.after_record {
                        hook(&new.key);
                    }
                    if created {
                        self.recorded.notify_one();
                    }
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, job_id = %new.key.job_id, "recording a job outcome failed; retrying");
                    if !sleep_unless_stopped(pause, shutdown).await {
                        return false;
                    }
                }
            }
        }
    }
}

/// Sleeps `pause` (then doubles it), unless `shutdown` comes first: `false` then.
async fn sleep_unless_stopped(pause: &mut Duration, shutdown: &CancellationToken) -> bool {
    let slept = tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(*pause) => true,
    };
    *pause = (*pause * 2).min(MAX_BACKOFF);
    slept
}

/// The notification a terminal event asks for, retried for `give_up_after`; `None`
/// for other events; the error says why the event can never be notified.
pub fn terminal(
    event: &v1::JobEvent,
    give_up_after: Duration,
) -> Result<Option<NewNotification>, String> {
    let outcome = match event.kind() {
        EventKind::Completed => Outcome::Completed,
        EventKind::Failed => Outcome::Failed,
        _ => return Ok(None),
    };
    let job_id: JobId =
        event.job_id.parse().map_err(|_| format!("job_id '{}' is not a UUID", event.job_id))?;
    let account_id = AccountId::parse(&event.account_id)
        .map_err(|_| format!("account_id '{}' is not a valid account id", event.account_id))?;
    if event.attempt == 0 {
        return Err("attempt is 0; attempts start at 1".to_owned());
    }
    let result_object_key = Some(event.result_object_key.clone()).filter(|key| !key.is_empty());
    if let Some(key) = &result_object_key {
        // The registry refuses such an event too: the job did not end by it, so no email.
        JobFile::Results
            .check(&account_id, job_id, key)
            .map_err(|foreign| format!("result_object_key {foreign}"))?;
    }
    Ok(Some(NewNotification {
        key: Key { job_id, attempt: event.attempt, outcome },
        account_id,
        message: event.message.clone(),
        counters: event.counters.as_ref().map(|counters| Counters {
            rows_total: counters.rows_total,
            rows_processed: counters.rows_processed,
            rows_rejected: counters.rows_rejected,
        }),
        result_object_key,
        occurred_at: event.occurred_at.as_ref().and_then(from_timestamp).unwrap_or_else(Utc::now),
        give_up_after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(account: &str, job: JobId, result_object_key: String) -> v1::JobEvent {
        v1::JobEvent {
            job_id: job.to_string(),
            account_id: account.to_owned(),
            attempt: 1,
            kind: v1::EventKind::Completed as i32,
            result_object_key,
            ..Default::default()
        }
    }

    #[test]
    fn an_end_naming_the_jobs_own_results_file_is_notified() {
        let job = JobId::new();
        let own = format!("results/acme/{job}/results.csv");
        let new = terminal(&completed("acme", job, own.clone()), Duration::from_secs(60))
            .expect("notifiable")
            .expect("a terminal event");
        assert_eq!(new.result_object_key, Some(own));
    }

    #[test]
    fn an_end_naming_another_accounts_results_file_is_never_notified() {
        let job = JobId::new();
        let foreign = format!("results/globex/{job}/results.csv");
        let reason = terminal(&completed("acme", job, foreign.clone()), Duration::from_secs(60))
            .expect_err("another account's file");
        assert!(
            reason.starts_with(&format!("result_object_key '{foreign}' is not this job's results")),
            "{reason}"
        );
    }
}
