//! Dead-lettered job messages fail their job (docs/architecture.md, "Processing rules"): ingest
//! consumes the dead-letter watch queue and tells the registry, which moves the job to Error with
//! the cause (or changes nothing for an older attempt or an ended job).

use std::time::Duration;

use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::{AccountId, JobId};
use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::{self, DeadLetter};
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{FailDeadLetteredRequest, JobMessage};
use futures::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

/// How long to hold a dead letter the registry could not take before returning it,
/// so an unreachable registry is not asked in a tight loop.
const REGISTRY_RETRY_PAUSE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeadLetterLabels {
    result: &'static str,
}

/// The dead letters the watch settled, by what became of them.
#[derive(Clone, Debug)]
pub(crate) struct DeadLetterMetrics(Family<DeadLetterLabels, Counter>);

impl DeadLetterMetrics {
    /// Registered in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let counted = Family::default();
        registry.register(
            "bgjobs_ingest_dead_letters",
            "Dead-lettered job messages taken off the watch queue, by what became of them: \
             failed_job (the job went to Error with the cause), unchanged (an older attempt \
             or an ended job), unknown_job, unreadable (no job message; kept in the \
             dead-letter queue for operators)",
            counted.clone(),
        );
        Self(counted)
    }

    fn count(&self, result: &'static str) {
        self.0.get_or_create(&DeadLetterLabels { result }).inc();
    }
}

/// The broker and registry the watch works with, and what it counts in.
pub(crate) struct Watch<'a> {
    pub(crate) connection: &'a lapin::Connection,
    pub(crate) names: &'a Names,
    pub(crate) delivery_limit: u32,
    pub(crate) registry: JobsRegistryClient<Channel>,
    pub(crate) metrics: DeadLetterMetrics,
}

/// Consumes the watch queue until `stop` is cancelled or the broker ends the consumer.
pub(crate) async fn watch_until_stopped(
    watch: Watch<'_>,
    stop: CancellationToken,
) -> Result<(), bgjobs_messaging::Error> {
    let Watch { connection, names, delivery_limit, registry, metrics } = watch;
    let mut dead_letters =
        amqp::consume_dead_letters(connection, names, "ingest-dead-letters", delivery_limit)
            .await?;
    loop {
        let dead_letter = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            next = dead_letters.next() => match next {
                Some(dead_letter) => dead_letter?,
                None => return Ok(()),
            },
        };
        handle(dead_letter, registry.clone(), &metrics).await?;
    }
}

/// Fails the dead letter's job, then acks; requeues it when the registry is unreachable.
async fn handle(
    dead_letter: DeadLetter,
    mut registry: JobsRegistryClient<Channel>,
    metrics: &DeadLetterMetrics,
) -> Result<(), bgjobs_messaging::Error> {
    let message = match &dead_letter.message {
        Ok(message) => message,
        Err(error) => {
            // Nothing to fail: no job can be named. The DLQ keeps it for operators.
            tracing::error!(%error, cause = dead_letter.cause, "a dead letter that is not a job message");
            metrics.count("unreadable");
            return dead_letter.ack().await;
        }
    };
    let cause = refused_input(message).unwrap_or_else(|| dead_letter.cause.clone());
    let request = FailDeadLetteredRequest {
        account_id: message.account_id.clone(),
        job_id: message.job_id.clone(),
        attempt: message.attempt,
        cause: cause.clone(),
    };
    match registry.fail_dead_lettered(request).await {
        Ok(answer) => {
            let answer = answer.into_inner();
            tracing::warn!(
                job_id = message.job_id,
                attempt = message.attempt,
                cause,
                changed = answer.changed,
                "job message dead-lettered"
            );
            metrics.count(if answer.changed { "failed_job" } else { "unchanged" });
            dead_letter.ack().await
        }
        Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
            tracing::error!(job_id = message.job_id, %status, "a dead letter of no known job");
            metrics.count("unknown_job");
            dead_letter.ack().await
        }
        Err(status) => {
            tracing::warn!(job_id = message.job_id, %status, "could not fail a dead-lettered job yet");
            tokio::time::sleep(REGISTRY_RETRY_PAUSE).await;
            dead_letter.requeue().await
        }
    }
}

/// The cause to show for a message its consumer refused unread because it names another
/// input file than its job's own (the consumer logs the key given). The key itself stays
/// out of the job's message, which the account's users read.
fn refused_input(message: &JobMessage) -> Option<String> {
    if message.input_object_key.is_empty() {
        return None;
    }
    let account = AccountId::parse(&message.account_id).ok()?;
    let job = message.job_id.parse::<JobId>().ok()?;
    JobFile::Input.check(&account, job, &message.input_object_key).err()?;
    Some(
        "dead-lettered unread: the job message named another input file than this job's own"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgjobs_domain::object_keys;

    #[test]
    fn only_a_message_naming_another_input_gets_the_refusal_as_its_cause() {
        let account = AccountId::parse("acme").expect("valid account");
        let job = JobId::new();
        let message = |key: String| JobMessage {
            job_id: job.to_string(),
            account_id: account.to_string(),
            input_object_key: key,
            ..JobMessage::default()
        };
        let other = AccountId::parse("globex").expect("valid account");
        let refused = refused_input(&message(object_keys::input(&other, job)));
        assert_eq!(
            refused.as_deref(),
            Some(
                "dead-lettered unread: the job message named another input file than this job's own"
            )
        );
        assert_eq!(refused_input(&message(object_keys::input(&account, job))), None);
        assert_eq!(refused_input(&message(String::new())), None);
    }
}
