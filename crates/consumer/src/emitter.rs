//! Job events of one delivery of one attempt, numbered in order, and the heartbeat
//! that keeps a moving delivery from looking stalled.
//!
//! The pass and the heartbeat share one emitter behind a mutex that is held from
//! taking a sequence number until JetStream has stored the event: events of one
//! delivery are numbered and published strictly in order, whoever emits them.
//!
//! A heartbeat says the work moves, not only that the process lives: it is withheld
//! once the pass itself has said nothing (no Progress after a batch, no log line) for
//! longer than the stuck bound. A delivery blocked for ever then falls silent, and
//! the registry's stall detection recovers its job.

use std::sync::Arc;
use std::time::Duration;

use bgjobs_domain::EventKind;
use bgjobs_messaging::events::EventPublisher;
use bgjobs_proto::convert::{event_kind_to_proto, timestamp};
use bgjobs_proto::v1::{Counters, JobEvent};
use tokio::sync::{Mutex, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

/// What a heartbeat says: the delivery goes on, counters as last reported.
pub const STILL_WORKING: &str = "Still working";

/// Emits the events of one job delivery: sequence numbers, ids and times are its job.
pub struct Emitter {
    shared: Arc<Mutex<Numbered>>,
}

/// The emitter's state: the next event's template and what was last said.
struct Numbered {
    publisher: EventPublisher,
    template: JobEvent,
    traceparent: Option<String>,
    /// When the last event was published (or its publishing failed).
    last_emitted: Instant,
    /// When the pass last emitted an event of its own (heartbeats do not count): the
    /// last sign that the work moves.
    last_moved: Instant,
    /// The counters of the last event that carried some.
    last_counters: Option<Counters>,
}

impl Emitter {
    /// An emitter for `delivery` of `attempt` of a job, speaking as `worker_id`.
    pub fn new(
        publisher: EventPublisher,
        job_id: &str,
        account_id: &str,
        attempt: u32,
        delivery: u32,
        worker_id: &str,
        traceparent: Option<String>,
    ) -> Self {
        let template = JobEvent {
            job_id: job_id.to_owned(),
            account_id: account_id.to_owned(),
            attempt,
            delivery,
            worker_id: worker_id.to_owned(),
            ..JobEvent::default()
        };
        let numbered = Numbered {
            publisher,
            template,
            traceparent,
            last_emitted: Instant::now(),
            last_moved: Instant::now(),
            last_counters: None,
        };
        Self { shared: Arc::new(Mutex::new(numbered)) }
    }

    /// Publishes the next event and waits for JetStream to store it, trying again
    /// while NATS does not answer ([`EventPublisher::publish`]): an outage pauses the
    /// delivery rather than failing it.
    pub async fn emit(
        &mut self,
        kind: EventKind,
        message: impl Into<String>,
        counters: Option<Counters>,
        result_object_key: Option<String>,
    ) -> Result<(), bgjobs_messaging::Error> {
        let mut numbered = self.shared.lock().await;
        numbered.last_moved = Instant::now();
        numbered.emit(kind, message.into(), counters, result_object_key, Tries::UntilStored).await
    }

    /// Publishes the next event with a single try, for a note whose loss is harmless
    /// (before a delayed retry, after being superseded): the delivery ends anyway.
    pub async fn emit_once(
        &mut self,
        kind: EventKind,
        message: impl Into<String>,
    ) -> Result<(), bgjobs_messaging::Error> {
        let mut numbered = self.shared.lock().await;
        numbered.last_moved = Instant::now();
        numbered.emit(kind, message.into(), None, None, Tries::One).await
    }

    /// Emits a Progress event ([`STILL_WORKING`], the last counters) whenever `every`
    /// has passed without any event, until `done` fires; but none while the pass has
    /// emitted nothing itself for `stuck_after` (see [`beat`]), which it logs as a
    /// warning. It never stops in the middle of publishing, so no sequence number is
    /// taken and left unpublished.
    pub(crate) async fn heartbeat(
        &self,
        every: Duration,
        stuck_after: Duration,
        mut done: oneshot::Receiver<()>,
    ) {
        let mut due = self.shared.lock().await.last_emitted + every;
        let mut withheld = false;
        loop {
            tokio::select! {
                _ = &mut done => return,
                () = tokio::time::sleep_until(due) => {}
            }
            let mut numbered = self.shared.lock().await;
            let silent = numbered.last_emitted.elapsed();
            let unmoved = numbered.last_moved.elapsed();
            match beat(silent, unmoved, every, stuck_after) {
                Beat::Wait => {
                    // The pass spoke meanwhile.
                    due = numbered.last_emitted + every;
                    continue;
                }
                Beat::Withhold => {
                    if !withheld {
                        withheld = true;
                        tracing::warn!(
                            no_progress_secs = unmoved.as_secs(),
                            "the delivery looks stuck: it has made no progress for {}s, so \
                             its heartbeats stop and the registry's stall detection will \
                             recover the job unless it moves again",
                            unmoved.as_secs()
                        );
                    }
                    due = Instant::now() + every;
                    continue;
                }
                Beat::Send => {}
            }
            if withheld {
                withheld = false;
                tracing::info!("the delivery moves again; heartbeats resume");
            }
            let counters = numbered.last_counters;
            // One try: the next beat is the retry, and a beat waiting out an outage
            // would hold the pass's own next event back.
            let still_working = STILL_WORKING.to_owned();
            let beat =
                numbered.emit(EventKind::Progress, still_working, counters, None, Tries::One);
            if let Err(error) = beat.await {
                // The pass's own next event reports a broken connection; keep beating.
                tracing::warn!(%error, "publishing a heartbeat failed");
            }
            due = numbered.last_emitted + every;
        }
    }

    /// A second handle on the same numbered events, for the heartbeat.
    pub(crate) fn share(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

/// What the heartbeat does when it wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// Nothing yet: some event went out less than a heartbeat interval ago.
    Wait,
    /// Emit a heartbeat: the delivery has been silent for an interval, and its pass
    /// emitted an event of its own within the stuck bound.
    Send,
    /// Emit nothing: the pass has emitted nothing for the stuck bound, so the work
    /// looks blocked and only its silence gets the job recovered.
    Withhold,
}

/// The heartbeat's decision, `silent` after the delivery's last event (heartbeats
/// included) and `unmoved` after the pass's own last one.
fn beat(silent: Duration, unmoved: Duration, every: Duration, stuck_after: Duration) -> Beat {
    if silent < every {
        Beat::Wait
    } else if unmoved >= stuck_after {
        Beat::Withhold
    } else {
        Beat::Send
    }
}

/// How many tries an event gets.
#[derive(Debug, Clone, Copy)]
enum Tries {
    /// As many as the publisher allows, until JetStream stores it.
    UntilStored,
    /// One.
    One,
}

impl Numbered {
    async fn emit(
        &mut self,
        kind: EventKind,
        message: String,
        counters: Option<Counters>,
        result_object_key: Option<String>,
        tries: Tries,
    ) -> Result<(), bgjobs_messaging::Error> {
        self.template.sequence += 1;
        if counters.is_some() {
            self.last_counters = counters;
        }
        let event = JobEvent {
            event_id: Uuid::now_v7().to_string(),
            occurred_at: Some(timestamp(chrono::Utc::now())),
            kind: event_kind_to_proto(kind) as i32,
            message,
            counters,
            result_object_key: result_object_key.unwrap_or_default(),
            ..self.template.clone()
        };
        let traceparent = self.traceparent.as_deref();
        let published = match tries {
            Tries::UntilStored => self.publisher.publish(&event, traceparent).await,
            Tries::One => self.publisher.publish_once(&event, traceparent).await,
        };
        self.last_emitted = Instant::now();
        published
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(10);
    const STUCK_AFTER: Duration = Duration::from_secs(120);

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn a_beat_goes_out_after_an_interval_of_silence_while_the_pass_moves() {
        assert_eq!(beat(secs(10), secs(10), EVERY, STUCK_AFTER), Beat::Send);
        // Heartbeats went out since, the pass last spoke 119 s ago: still moving.
        assert_eq!(beat(secs(10), secs(119), EVERY, STUCK_AFTER), Beat::Send);
    }

    #[test]
    fn no_beat_is_due_within_an_interval_of_the_last_event() {
        assert_eq!(beat(secs(9), secs(9), EVERY, STUCK_AFTER), Beat::Wait);
        assert_eq!(beat(secs(3), secs(500), EVERY, STUCK_AFTER), Beat::Wait);
    }

    #[test]
    fn beats_are_withheld_once_the_pass_has_said_nothing_for_the_stuck_bound() {
        assert_eq!(beat(secs(10), secs(120), EVERY, STUCK_AFTER), Beat::Withhold);
        assert_eq!(beat(secs(3600), secs(3600), EVERY, STUCK_AFTER), Beat::Withhold);
    }
}
