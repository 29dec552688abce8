//! Publishing job events, de-duplicated by event id.

use async_nats::Client;
use async_nats::jetstream::{self, message::PublishMessage};
use bgjobs_domain::{AccountId, JobId};
use bgjobs_proto::v1::JobEvent;
use prost::Message;

use crate::Names;
use crate::error::{Error, nats_error};

/// Publishes job events to the events stream; cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    jetstream: jetstream::Context,
    names: Names,
}

impl EventPublisher {
    /// A publisher for the events stream under `names`.
    pub fn new(client: Client, names: Names) -> Self {
        Self { jetstream: jetstream::new(client), names }
    }

    /// Publishes on `names.events_subject(account, job)` with header `Nats-Msg-Id` =
    /// event id and "traceparent" when given; waits for the JetStream PubAck (a
    /// duplicate ack is success: the event is stored, once).
    pub async fn publish(&self, event: &JobEvent, traceparent: Option<&str>) -> Result<(), Error> {
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
        let doing = || format!("publishing event {} on {subject}", event.event_id);
        let ack = self
            .jetstream
            .send_publish(subject.clone(), message)
            .await
            .map_err(|error| nats_error(&doing(), error))?
            .await
            // "no responders" here means no stream listens on the subject: ensure_stream was not run.
            .map_err(|error| nats_error(&doing(), error))?;
        if ack.duplicate {
            tracing::debug!(event_id = event.event_id, "event was already stored");
        }
        Ok(())
    }
}
