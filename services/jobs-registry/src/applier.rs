//! The event applier: reads JobEvents from the durable JetStream consumer and records
//! each through the store's state machine, several jobs' events at once and each
//! job's in order.

mod incoming;
mod lanes;
mod unapplied;

use std::time::Duration;

use bgjobs_database::JobsStore;
use bgjobs_database::jobs::RecordOutcome;
use bgjobs_domain::IgnoreReason;
use bgjobs_messaging::events::{ReceivedEvent, hand_back};
use bgjobs_proto::v1;
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::metrics::RegistryMetrics;

pub use incoming::incoming_event;
pub use lanes::lane_of;
pub use unapplied::Unapplied;

use lanes::Lanes;

/// The first pause after a failure; doubled after each further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause: a recovered database is noticed within this long.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// At shutdown, buffered events are handed back as long as the next one follows
/// within this long...
const HAND_BACK_IDLE: Duration = Duration::from_millis(100);
/// ...for at most this long in all (the rest comes back after the ack wait).
const HAND_BACK_BUDGET: Duration = Duration::from_secs(2);

/// What handling one event did; every outcome is final, so the event is settled
/// (acknowledged, or terminated when malformed) and never redelivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The store recorded (or knowingly skipped) the event.
    Recorded(RecordOutcome),
    /// The event can never be applied (unparseable ids, unknown kind, out-of-range
    /// values); the reason is logged and the event terminated.
    Malformed(String),
}

/// Applies job events to the store.
#[derive(Debug, Clone)]
pub struct EventApplier {
    store: JobsStore,
    metrics: RegistryMetrics,
    unapplied: Unapplied,
}

impl EventApplier {
    /// An applier writing through `store`, counting in `metrics`.
    pub fn new(store: JobsStore, metrics: RegistryMetrics) -> Self {
        Self { store, metrics, unapplied: Unapplied::default() }
    }

    /// The events this applier has taken and not yet settled, as it runs.
    pub fn unapplied(&self) -> Unapplied {
        self.unapplied.clone()
    }

    /// Records one event. `Err` when the store failed: the event is not recorded and must
    /// be tried again rather than acknowledged.
    pub async fn handle(&self, event: &v1::JobEvent) -> Result<Outcome, bgjobs_database::Error> {
        let incoming = match incoming_event(event) {
            Ok(incoming) => incoming,
            Err(reason) => return Ok(Outcome::Malformed(reason)),
        };
        match self.store.record_event(incoming).await {
            Ok(outcome) => Ok(Outcome::Recorded(outcome)),
            // A value the schema cannot hold (a counter above i64::MAX) is as hopeless
            // as an unparseable id: redelivering it would change nothing.
            Err(bgjobs_database::Error::InvalidInput(reason)) => Ok(Outcome::Malformed(reason)),
            Err(error) => Err(error),
        }
    }

    /// Handles events from `events` until `shutdown` is cancelled, `lanes` at once:
    /// each job's events go to one lane ([`lane_of`]) and are applied there in the
    /// order they arrived, one at a time, while other jobs' events are applied on the
    /// other lanes. An event being recorded when `shutdown` is cancelled is finished
    /// and settled first; the events received behind it (buffered in the stream or
    /// queued on a lane) are handed back, so that another replica applies them at once
    /// rather than after the ack wait. While the database is unavailable a lane retries
    /// its current event with exponential backoff; an event failing otherwise is nak'd
    /// for redelivery.
    ///
    /// Fails only when the event stream ends, which means the NATS connection is gone
    /// for good; the process should then restart.
    pub async fn run<S, E>(
        self,
        mut events: S,
        lanes: usize,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>
    where
        S: Stream<Item = Result<ReceivedEvent, E>> + Unpin,
        E: std::fmt::Display,
    {
        let lanes = Lanes::start(&self, lanes, &shutdown);
        let mut backoff = Backoff::default();
        let ended = loop {
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    let handed_back =
                        hand_back(events, HAND_BACK_IDLE, HAND_BACK_BUDGET).await;
                    tracing::info!(handed_back, "stopped receiving job events");
                    break Ok(());
                }
                next = events.next() => next,
            };
            match next {
                Some(Ok(received)) => {
                    backoff.reset();
                    let unsettled = self.unapplied.take();
                    if !lanes.queue(received, unsettled).await {
                        break Err(anyhow::anyhow!("an event applier lane stopped"));
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "receiving job events failed");
                    backoff.pause(&shutdown).await;
                }
                None => break Err(anyhow::anyhow!("the job event stream ended")),
            }
        };
        let handed_back = lanes.close().await?;
        tracing::info!(handed_back, "stopped applying job events");
        ended
    }

    /// Applies one received event (retrying in place while the store is unavailable)
    /// and settles it.
    async fn apply(
        &self,
        received: ReceivedEvent,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) {
        let event = &received.event;
        let span = tracing::info_span!(
            "apply job event",
            job_id = %event.job_id,
            attempt = event.attempt,
            kind = event.kind().as_str_name(),
            trace_id = tracing::field::Empty
        );
        bgjobs_telemetry::follow(&span, received.traceparent.as_deref());
        let handled =
            self.handle_retrying_transient(event, backoff, shutdown).instrument(span).await;
        match handled {
            Ok(outcome) => {
                log_outcome(event, &outcome);
                self.metrics.handled(kind_label(event), &outcome, lag(event));
                let job_id = event.job_id.clone();
                // Term, unlike ack, records that the event was never processed.
                let settled = match outcome {
                    Outcome::Malformed(_) => received.term().await,
                    Outcome::Recorded(_) => received.ack().await,
                };
                if let Err(error) = settled {
                    // Redelivery is harmless: the event id makes it a duplicate.
                    tracing::warn!(error = %error, job_id, "settling a job event failed");
                }
                backoff.reset();
            }
            Err(error) => {
                tracing::error!(
                    error = %error,
                    job_id = %event.job_id,
                    attempt = event.attempt,
                    kind = event.kind().as_str_name(),
                    "recording a job event failed; it will be redelivered"
                );
                if let Err(error) = received.nak().await {
                    tracing::warn!(error = %error, "refusing a job event failed; it is redelivered after the ack wait");
                }
                backoff.pause(shutdown).await;
            }
        }
    }

    /// [`handle`](Self::handle), trying again in place (with backoff) while the store
    /// fails in a way that waiting cures, until shutdown.
    ///
    /// Why not nak at once: the events after this one are already buffered, so a nak'd
    /// event would come back after them. The store reaches the same state whatever the
    /// order (an event before its Started is held), but holding the event in place
    /// spares the churn of redelivering it during an outage. Errors waiting does not
    /// cure are returned for a nak, so that one poisoned event cannot stall every job.
    async fn handle_retrying_transient(
        &self,
        event: &v1::JobEvent,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Result<Outcome, bgjobs_database::Error> {
        loop {
            match self.handle(event).await {
                Err(error) if error.is_transient() && !shutdown.is_cancelled() => {
                    tracing::warn!(
                        error = %error,
                        job_id = %event.job_id,
                        retry_in = ?backoff.next,
                        "job database unavailable; retrying the event"
                    );
                    backoff.pause(shutdown).await;
                }
                result => return result,
            }
        }
    }
}

/// The event's kind as a metric label: `started`, `progress`, ... (`unspecified` for a
/// kind this registry does not know).
fn kind_label(event: &v1::JobEvent) -> &'static str {
    match v1::EventKind::try_from(event.kind) {
        Ok(v1::EventKind::Started) => "started",
        Ok(v1::EventKind::Progress) => "progress",
        Ok(v1::EventKind::Log) => "log",
        Ok(v1::EventKind::Completed) => "completed",
        Ok(v1::EventKind::Failed) => "failed",
        _ => "unspecified",
    }
}

/// How long ago the event occurred, by its publisher's clock (`None` without a time,
/// or from a clock ahead of this one).
fn lag(event: &v1::JobEvent) -> Option<Duration> {
    let occurred = event.occurred_at.as_ref()?;
    let occurred =
        chrono::DateTime::from_timestamp(occurred.seconds, occurred.nanos.try_into().ok()?)?;
    (chrono::Utc::now() - occurred).to_std().ok()
}

fn log_outcome(event: &v1::JobEvent, outcome: &Outcome) {
    let (job_id, attempt, sequence) = (&event.job_id, event.attempt, event.sequence);
    let kind = event.kind().as_str_name();
    match outcome {
        Outcome::Recorded(RecordOutcome::Applied { status, .. }) => {
            tracing::debug!(job_id, attempt, sequence, kind, status = %status, "job event applied");
        }
        Outcome::Recorded(RecordOutcome::Ignored(
            reason @ IgnoreReason::ForeignResultKey { .. },
        )) => {
            // Only a faulty or hostile publisher names another file: worth a warning.
            let given_key: String = event.result_object_key.chars().take(200).collect();
            tracing::warn!(
                job_id,
                account_id = event.account_id,
                attempt,
                sequence,
                kind,
                given_key = ?given_key,
                reason = %reason,
                "job event refused: its results key is not the job's own"
            );
        }
        Outcome::Recorded(RecordOutcome::Ignored(reason)) => {
            tracing::debug!(job_id, attempt, sequence, kind, reason = %reason, "job event logged without effect");
        }
        Outcome::Recorded(RecordOutcome::Duplicate) => {
            tracing::debug!(
                job_id,
                attempt,
                sequence,
                kind,
                event_id = event.event_id,
                "duplicate job event skipped"
            );
        }
        Outcome::Recorded(RecordOutcome::UnknownJob) => {
            tracing::warn!(
                job_id,
                account_id = event.account_id,
                attempt,
                kind,
                "job event for an unknown job dropped"
            );
        }
        Outcome::Malformed(reason) => {
            tracing::error!(
                job_id,
                event_id = event.event_id,
                reason,
                "malformed job event dropped"
            );
        }
    }
}

/// Exponential pauses after consecutive failures, so that a database outage is waited
/// out instead of spun on.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_BACKOFF }
    }
}

impl Backoff {
    /// Waits the current pause (or until shutdown), then doubles it up to the cap.
    async fn pause(&mut self, shutdown: &CancellationToken) {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }

    fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap_and_resets() {
        let shutdown = CancellationToken::new();
        let mut backoff = Backoff::default();
        let mut pauses = Vec::new();
        for _ in 0..8 {
            let started = tokio::time::Instant::now();
            backoff.pause(&shutdown).await;
            pauses.push(started.elapsed().as_millis());
        }
        assert_eq!(pauses, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        backoff.reset();
        assert_eq!(backoff.next, FIRST_BACKOFF);
    }

    #[tokio::test]
    async fn backoff_ends_at_shutdown() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut backoff = Backoff { next: Duration::from_secs(3600) };
        tokio::time::timeout(Duration::from_secs(5), backoff.pause(&shutdown))
            .await
            .expect("the pause ends at shutdown");
    }
}
