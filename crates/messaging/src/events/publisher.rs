//! Publishing job events, de-duplicated by event id, through NATS outages.
//!
//! A try waits [`ACK_WAIT`] for JetStream's acknowledgement. A publish that gets none
//! (NATS is away, the connection dropped) is tried again in place with the same event
//! id, which JetStream stores once however many of its tries arrive, until it is
//! acknowledged, its [`PublishRetry::give_up`] has passed, or the process is stopping.

use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::{self, message::PublishMessage};
use bgjobs_domain::{AccountId, JobId};
use bgjobs_proto::v1::JobEvent;
use prost::Message;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Names;
use crate::error::{Error, nats_error};

/// How long one try waits for JetStream to acknowledge an event (async-nats' default).
pub const ACK_WAIT: Duration = Duration::from_secs(5);

/// The longest [`PublishRetry::give_up`]: with the last try's [`ACK_WAIT`] it stays
/// inside the stream's duplicate window, so an event is stored once whichever of its
/// tries JetStream received.
pub const MAX_GIVE_UP: Duration = Duration::from_secs(20 * 60);
const _: () =
    assert!(MAX_GIVE_UP.as_secs() + ACK_WAIT.as_secs() < super::DUPLICATE_WINDOW.as_secs());

/// The pause after the first failed try; it doubles after each next one.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two tries (as long as async-nats' longest wait between
/// two reconnection attempts).
const MAX_PAUSE: Duration = Duration::from_secs(4);

/// How an event that JetStream does not acknowledge is tried again.
#[derive(Debug, Clone)]
pub struct PublishRetry {
    /// How long to keep trying before the publish fails; at most [`MAX_GIVE_UP`].
    pub give_up: Duration,
    /// Once cancelled (the process is shutting down), a failed try is the last.
    pub stop: CancellationToken,
}

impl Default for PublishRetry {
    /// Five minutes (the consumers' default), never stopped.
    fn default() -> Self {
        Self { give_up: Duration::from_secs(5 * 60), stop: CancellationToken::new() }
    }
}

/// Publishes job events to the events stream; cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    jetstream: jetstream::Context,
    names: Names,
    retry: PublishRetry,
}

impl EventPublisher {
    /// A publisher for the events stream under `names`, retrying as
    /// [`PublishRetry::default`] says.
    pub fn new(client: Client, names: Names) -> Self {
        let jetstream = jetstream::ContextBuilder::new().timeout(ACK_WAIT).build(client);
        Self { jetstream, names, retry: PublishRetry::default() }
    }

    /// The same publisher, retrying as `retry` says (`give_up` capped at [`MAX_GIVE_UP`]).
    pub fn retrying(self, retry: PublishRetry) -> Self {
        let retry = PublishRetry { give_up: retry.give_up.min(MAX_GIVE_UP), ..retry };
        Self { retry, ..self }
    }

    /// Publishes on `names.events_subject(account, job)` with header `Nats-Msg-Id` =
    /// event id and "traceparent" when given, and waits until JetStream has stored it
    /// (a duplicate ack is success: the event is stored, once). Tried again while
    /// NATS does not answer, as the module says.
    pub async fn publish(&self, event: &JobEvent, traceparent: Option<&str>) -> Result<(), Error> {
        let (subject, message) = self.message(event, traceparent)?;
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            let Err(error) = self.try_publish(&subject, message.clone(), event).await else {
                return Ok(());
            };
            let failed_because = |why: &str| failed(event, &subject, &format!("{error}; {why}"));
            // Silence may end with the outage; an answer (no stream, a refusal) will not change.
            if !matches!(error.kind(), PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe) {
                return Err(failed(event, &subject, &error.to_string()));
            }
            let tried_for = started.elapsed();
            if tried_for + pause >= self.retry.give_up {
                let why = format!("gave up after trying for {} s", tried_for.as_secs());
                return Err(failed_because(&why));
            }
            let stopping = "not tried again: the process is stopping";
            if self.retry.stop.is_cancelled() {
                return Err(failed_because(stopping));
            }
            tracing::warn!(
                event_id = event.event_id,
                %error,
                ?pause,
                "JetStream did not acknowledge the event; trying again"
            );
            tokio::select! {
                () = self.retry.stop.cancelled() => return Err(failed_because(stopping)),
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Publishes as [`EventPublisher::publish`] does, but tries once: for events whose
    /// loss is harmless (a heartbeat, a note before a retry).
    pub async fn publish_once(
        &self,
        event: &JobEvent,
        traceparent: Option<&str>,
    ) -> Result<(), Error> {
        let (subject, message) = self.message(event, traceparent)?;
        self.try_publish(&subject, message, event)
            .await
            .map_err(|error| failed(event, &subject, &error.to_string()))
    }

    /// The subject and the message for `event`, refused when its ids are not valid.
    fn message(
        &self,
        event: &JobEvent,
        traceparent: Option<&str>,
    ) -> Result<(String, PublishMessage), Error> {
        if event.event_id.is_empty() {
            return Err(Error::InvalidMessage(format!(
                "job event for job {} has no event id; it is needed for de-duplication",
                event.job_id
            )));
        }
        let account = AccountId::parse(&event.account_id).map_err(|error| {
            Error::InvalidMessage(format!("job event {}: {error}", event.event_id))
        })?;
        let job: JobId = event.job_id.parse().map_err(|error| {
            Error::InvalidMessage(format!("job event {}: {error}", event.event_id))
        })?;
        let subject = self.names.events_subject(&account, job);
        let mut message = PublishMessage::build()
            .payload(event.encode_to_vec().into())
            .message_id(&event.event_id);
        if let Some(traceparent) = traceparent {
            message = message.header("traceparent", traceparent);
        }
        Ok((subject, message))
    }

    /// One try: sends the message and waits [`ACK_WAIT`] for its acknowledgement.
    async fn try_publish(
        &self,
        subject: &str,
        message: PublishMessage,
        event: &JobEvent,
    ) -> Result<(), PublishError> {
        // "no responders" (StreamNotFound) means no stream listens on the subject:
        // ensure_stream was not run.
        let ack = self.jetstream.send_publish(subject.to_owned(), message).await?.await?;
        if ack.duplicate {
            tracing::debug!(event_id = event.event_id, "event was already stored");
        }
        Ok(())
    }
}

/// The error of a publish of `event` on `subject` that did not succeed.
fn failed(event: &JobEvent, subject: &str, cause: &str) -> Error {
    nats_error(&format!("publishing event {} on {subject}", event.event_id), cause)
}
