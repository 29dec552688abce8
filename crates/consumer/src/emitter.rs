//! Job events of one delivery of one attempt, numbered in order, and the heartbeat
//! that keeps a live delivery from looking stalled.
//!
//! The pass and the heartbeat share one emitter behind a mutex that is held from
//! taking a sequence number until JetStream has stored the event: events of one
//! delivery are numbered and published strictly in order, whoever emits them.

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
        numbered.emit(kind, message.into(), None, None, Tries::One).await
    }

    /// Emits a Progress event ([`STILL_WORKING`], the last counters) whenever `every`
    /// has passed without any event, until `done` fires. It never stops in the middle
    /// of publishing, so no sequence number is taken and left unpublished.
    pub(crate) async fn heartbeat(&self, every: Duration, mut done: oneshot::Receiver<()>) {
        loop {
            let due = self.shared.lock().await.last_emitted + every;
            tokio::select! {
                _ = &mut done => return,
                () = tokio::time::sleep_until(due) => {}
            }
            let mut numbered = self.shared.lock().await;
            if numbered.last_emitted.elapsed() < every {
                continue; // the pass spoke meanwhile
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
        }
    }

    /// A second handle on the same numbered events, for the heartbeat.
    pub(crate) fn share(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
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
