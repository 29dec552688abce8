//! Publishing a registered job's message and recording that the broker confirmed
//! it (the sweeper, in `sweeper`, publishes again what is not in the queue).
//!
//! A job is published at least once, maybe twice (a sweep can overlap a slow
//! first publish, or a crash can fall between the confirm and MarkPublished). A
//! duplicate is harmless: it carries the same message id `<job>:<attempt>`, the
//! consumer resumes from the job's checkpoint, and fencing refuses writes of an
//! attempt that has ended.

use bgjobs_messaging::amqp::JobPublisher;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{Job, JobMessage, MarkPublishedRequest};
use tonic::transport::Channel;

/// What publishing needs: the broker and the registry.
#[derive(Clone)]
pub(crate) struct Publishing {
    /// Publishes with confirms; clones share one channel.
    pub publisher: JobPublisher,
    /// The registry client on a lazily connected channel.
    pub registry: JobsRegistryClient<Channel>,
}

impl Publishing {
    /// Publishes the message of `job`'s current attempt with a confirm, then records
    /// it as published. A failure to record is only logged: the sweeper then
    /// publishes once more, which is harmless. The message carries this span's
    /// `traceparent`, so the consumer's and registry's spans join the upload's trace.
    #[tracing::instrument(
        name = "publish job",
        skip_all,
        fields(job_id = %job.job_id, attempt = job.attempt, trace_id = tracing::field::Empty)
    )]
    pub async fn publish(&self, job: &Job) -> Result<(), bgjobs_messaging::Error> {
        bgjobs_telemetry::record_trace_id(&tracing::Span::current());
        let message = job_message(job);
        let traceparent = bgjobs_telemetry::traceparent();
        self.publisher.publish(&message, traceparent.as_deref()).await?;
        tracing::info!(job_id = job.job_id, attempt = message.attempt, "job message published");
        let marked = MarkPublishedRequest { job_id: job.job_id.clone(), attempt: message.attempt };
        if let Err(status) = self.registry.clone().mark_published(marked).await {
            tracing::warn!(
                job_id = job.job_id,
                %status,
                "could not record the job message as published; the sweeper will publish it again"
            );
        }
        Ok(())
    }

    /// Publishes a job just registered; a failure is logged and left to the sweeper,
    /// since the job is accepted once registered.
    pub async fn publish_registered(&self, job: &Job) {
        if let Err(error) = self.publish(job).await {
            tracing::warn!(
                job_id = job.job_id,
                %error,
                "the job message could not be queued now; the sweeper will publish it"
            );
        }
    }
}

/// The message of `job`'s current attempt (docs/architecture.md, "Contracts").
pub(crate) fn job_message(job: &Job) -> JobMessage {
    JobMessage {
        job_id: job.job_id.clone(),
        account_id: job.account_id.clone(),
        job_type: job.job_type,
        attempt: job.attempt.max(1),
        input_object_key: job.input_object_key.clone(),
        parameters_json: job.parameters_json.clone(),
        reference_ids: job.reference_ids.clone(),
        created_by: job.created_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_the_registered_job_and_its_current_attempt() {
        let job = Job {
            job_id: "0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b".to_owned(),
            account_id: "acme".to_owned(),
            job_type: 1,
            attempt: 3,
            input_object_key: "uploads/acme/x/input.csv".to_owned(),
            parameters_json: r#"{"dry_run":false}"#.to_owned(),
            created_by: "ann".to_owned(),
            ..Default::default()
        };
        let message = job_message(&job);
        assert_eq!(
            (message.job_id.as_str(), message.attempt, message.input_object_key.as_str()),
            (job.job_id.as_str(), 3, "uploads/acme/x/input.csv")
        );
        assert_eq!(
            (message.parameters_json, message.created_by),
            (job.parameters_json, job.created_by)
        );
    }
}
