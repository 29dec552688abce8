//! `dlq replay`: put dead-lettered job messages back on their job queue.
//!
//! For each selected message, in this order: the registry records the replay in the
//! job's log (moving a job in Error to New on its next attempt), the message is
//! republished to the jobs exchange and confirmed by the broker, and only then removed
//! from the dead-letter queue. A crash at any point leaves the message in the DLQ; the
//! worst case is a job published twice, which its `<job id>:<attempt>` message id,
//! checkpoints and attempt fencing make harmless.

use std::time::Duration;

use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::{DlqMessage, DlqReader, JobPublisher};
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{JobMessage, MarkPublishedRequest, ReplayDeadLetterRequest};
use indicatif::ProgressBar;
use lapin::Connection;
use tonic::Code;
use tonic::transport::Channel;

use super::Selection;

/// What to replay, by whom and why.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Which dead letters.
    pub selection: Selection,
    /// Who replays; recorded in each job's log.
    pub operator: String,
    /// Why; recorded in each job's log.
    pub reason: String,
    /// Only tell what would be replayed; change nothing.
    pub dry_run: bool,
    /// At most this many messages per second (no limit when `None`).
    pub rate: Option<f64>,
}

/// What became of one selected dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Republished (and removed from the DLQ) as this attempt of the job.
    Replayed {
        /// The job id.
        job_id: String,
        /// The attempt the republished message carries.
        attempt: u32,
    },
    /// Republished unchanged although the registry has no such job.
    ReplayedUnregistered {
        /// The job id.
        job_id: String,
    },
    /// A dry run would have replayed it.
    WouldReplay {
        /// The job id.
        job_id: String,
    },
    /// Left in the DLQ, for the reason given.
    Refused {
        /// The job id, or "?" for a body that is not a job message.
        job_id: String,
        /// Why it was not replayed.
        reason: String,
    },
}

impl Outcome {
    /// One line for the operator.
    pub fn describe(&self) -> String {
        match self {
            Self::Replayed { job_id, attempt } => format!("replayed {job_id} as attempt {attempt}"),
            Self::ReplayedUnregistered { job_id } => format!(
                "replayed {job_id} unchanged; warning: the registry has no such job, so its \
                 progress will not show on the Background Jobs page"
            ),
            Self::WouldReplay { job_id } => format!("would replay {job_id}"),
            Self::Refused { job_id, reason } => format!("left {job_id} in the DLQ: {reason}"),
        }
    }
}

/// What a replay did, message by message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// The selected messages, in the order they were handled.
    pub outcomes: Vec<Outcome>,
    /// Messages read that the selection did not pick (handed back unchanged).
    pub not_selected: u64,
}

impl ReplayReport {
    /// How many messages were republished.
    pub fn replayed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|outcome| {
                matches!(outcome, Outcome::Replayed { .. } | Outcome::ReplayedUnregistered { .. })
            })
            .count()
    }

    /// One line summing it up.
    pub fn summary(&self) -> String {
        let count =
            |wanted: fn(&Outcome) -> bool| self.outcomes.iter().filter(|o| wanted(o)).count();
        let would = count(|outcome| matches!(outcome, Outcome::WouldReplay { .. }));
        let refused = count(|outcome| matches!(outcome, Outcome::Refused { .. }));
        let done = if would > 0 {
            format!("dry run: would replay {would}")
        } else {
            format!("replayed {}", self.replayed())
        };
        format!("{done}, left {refused} in the DLQ, {} not selected", self.not_selected)
    }
}

/// Replays the dead letters `options` selects, reporting each on `progress`.
pub async fn replay(
    connection: &Connection,
    names: &Names,
    registry: &mut JobsRegistryClient<Channel>,
    options: &ReplayOptions,
    progress: &ProgressBar,
) -> anyhow::Result<ReplayReport> {
    let publisher = JobPublisher::new(connection, names).await?;
    let mut pace = options.rate.map(pacing);
    let mut report = ReplayReport::default();
    let now = chrono::Utc::now();
    for job_type in options.selection.job_types() {
        let mut reader = DlqReader::open(connection, names, job_type).await?;
        let replayed = async {
            while let Some(letter) = reader.next().await? {
                progress.inc(1);
                if !options.selection.matches(&letter, now) {
                    report.not_selected += 1;
                    continue;
                }
                if let Some(pace) = pace.as_mut()
                    && !options.dry_run
                {
                    pace.tick().await;
                }
                let outcome = replay_one(&letter, registry, &publisher, options).await?;
                if matches!(
                    outcome,
                    Outcome::Replayed { .. } | Outcome::ReplayedUnregistered { .. }
                ) {
                    reader.remove(&letter).await?;
                }
                progress.println(outcome.describe());
                report.outcomes.push(outcome);
            }
            anyhow::Ok(())
        }
        .await;
        // Whatever happened, the messages not removed go back, in their order.
        reader.hand_back().await?;
        replayed?;
    }
    Ok(report)
}

/// The pacing of `rate` messages per second.
fn pacing(rate: f64) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // Slow steps (a registry call, a confirm) do not earn a burst afterwards.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

async fn replay_one(
    letter: &DlqMessage,
    registry: &mut JobsRegistryClient<Channel>,
    publisher: &JobPublisher,
    options: &ReplayOptions,
) -> anyhow::Result<Outcome> {
    let message = match &letter.message {
        Ok(message) => message,
        Err(error) => {
            let reason = format!("its body is not a job message ({error}); inspect it by hand");
            return Ok(Outcome::Refused { job_id: "?".to_owned(), reason });
        }
    };
    let job_id = message.job_id.clone();
    if options.dry_run {
        return Ok(Outcome::WouldReplay { job_id });
    }
    let request = ReplayDeadLetterRequest {
        account_id: message.account_id.clone(),
        job_id: job_id.clone(),
        operator: options.operator.clone(),
        reason: options.reason.clone(),
    };
    let mut republished = message.clone();
    let outcome = match registry.replay_dead_letter(request).await {
        Ok(response) => {
            let job = response.into_inner().job;
            republished.attempt = job.map(|job| job.attempt).unwrap_or(message.attempt);
            Outcome::Replayed { job_id, attempt: republished.attempt }
        }
        // Decided in docs/decisions.md: the operator asked for it, and a message whose
        // job the registry lost is still work someone submitted.
        Err(status) if status.code() == Code::NotFound => Outcome::ReplayedUnregistered { job_id },
        Err(status) if status.code() == Code::FailedPrecondition => {
            return Ok(Outcome::Refused { job_id, reason: status.message().to_owned() });
        }
        Err(status) => anyhow::bail!(
            "the jobs registry refused to record the replay of {job_id}: {}; nothing more was \
             replayed",
            status.message()
        ),
    };
    publish(publisher, &republished, letter, &options.operator).await?;
    if let Outcome::Replayed { job_id, attempt } = &outcome {
        // Best effort: unmarked, ingest's sweeper publishes the attempt once more after
        // BGJOBS_REPUBLISH_AFTER_SECS, which is harmless.
        let published = MarkPublishedRequest { job_id: job_id.clone(), attempt: *attempt };
        if let Err(status) = registry.mark_published(published).await {
            eprintln!("warning: job {job_id} could not be marked published: {}", status.message());
        }
    }
    Ok(outcome)
}

async fn publish(
    publisher: &JobPublisher,
    message: &JobMessage,
    letter: &DlqMessage,
    operator: &str,
) -> anyhow::Result<()> {
    publisher.publish_with_headers(message, letter.replay_headers(operator)).await.map_err(
        |error| {
            anyhow::anyhow!(
                "republishing job {} failed: {error}; it stays in the dead-letter queue and \
                 nothing more was replayed",
                message.job_id
            )
        },
    )
}
