//! Job events of one delivery of one attempt, numbered in order.

use bgjobs_domain::EventKind;
use bgjobs_messaging::events::EventPublisher;
use bgjobs_proto::convert::{event_kind_to_proto, timestamp};
use bgjobs_proto::v1::{Counters, JobEvent};
use uuid::Uuid;

/// Emits the events of one job delivery: sequence numbers, ids and times are its job.
pub struct Emitter {
    publisher: EventPublisher,
    template: JobEvent,
    traceparent: Option<String>,
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
        Self { publisher, template, traceparent }
    }

    /// Publishes the next event and waits for JetStream to store it.
    pub async fn emit(
        &mut self,
        kind: EventKind,
        message: impl Into<String>,
        counters: Option<Counters>,
        result_object_key: Option<String>,
    ) -> Result<(), bgjobs_messaging::Error> {
        self.template.sequence += 1;
        let event = JobEvent {
            event_id: Uuid::now_v7().to_string(),
            occurred_at: Some(timestamp(chrono::Utc::now())),
            kind: event_kind_to_proto(kind) as i32,
            message: message.into(),
            counters,
            result_object_key: result_object_key.unwrap_or_default(),
            ..self.template.clone()
        };
        self.publisher.publish(&event, self.traceparent.as_deref()).await
    }
}
