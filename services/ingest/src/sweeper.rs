//! The sweeper: every few seconds, publishes again the New jobs whose message is not
//! in the queue, as far as the registry and the broker can tell.
//!
//! - **Unpublished**: the current attempt has had no confirmed message for
//!   `BGJOBS_REPUBLISH_AFTER_SECS`: ingest crashed between registering and publishing,
//!   the broker refused the message, or a retry or a stall recovery queued a new
//!   attempt.
//! - **Unstarted**: the message was confirmed `BGJOBS_REPUBLISH_UNSTARTED_AFTER_SECS`
//!   ago, no worker has started the job, and its queue holds no message waiting: the
//!   message was lost (a delayed retry's copy dropped, a queue purged or lost). A
//!   message waiting in a delay queue is not copied, because the wait is longer than
//!   any run of delayed retries; nor is one waiting behind others in its queue.
//!
//! Publishing again is harmless (see `publishing`), but each copy is work for a
//! consumer, so an unstarted job is published again at most once per wait: the
//! confirm of the new publish starts its wait afresh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bgjobs_domain::JobType;
use bgjobs_messaging::{Names, amqp};
use bgjobs_proto::convert::job_type_from_proto;
use bgjobs_proto::v1::{
    AddJobNoteRequest, Job, ListUnpublishedJobsRequest, ListUnstartedJobsRequest,
};
use tokio_util::sync::CancellationToken;

use crate::publishing::Publishing;

/// The actor of the log line that says a job was published again.
const ACTOR: &str = "ingest";

/// Publishes again the jobs left New without a message in their queue.
pub(crate) struct Sweeper {
    /// Publishes, and asks the registry.
    pub publishing: Publishing,
    /// The broker connection, to see whether a job's queue holds messages waiting.
    pub connection: Arc<lapin::Connection>,
    /// The queues' names.
    pub names: Names,
    /// How long a New job may go without a confirmed message (`BGJOBS_REPUBLISH_AFTER_SECS`).
    pub unpublished_after: Duration,
    /// How long a New job may stay unstarted after its message was confirmed
    /// (`BGJOBS_REPUBLISH_UNSTARTED_AFTER_SECS`).
    pub unstarted_after: Duration,
}

impl Sweeper {
    /// Sweeps every few seconds until `stop`.
    pub async fn run_until_stopped(self, stop: CancellationToken) {
        let interval = sweep_interval(self.unpublished_after.min(self.unstarted_after));
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.publish_unpublished().await {
                tracing::warn!(%error, "publishing unqueued jobs failed; trying again later");
            }
            if let Err(error) = self.publish_unstarted().await {
                tracing::warn!(%error, "publishing unstarted jobs again failed; trying again later");
            }
        }
    }

    /// Publishes every job the registry lists as unpublished.
    async fn publish_unpublished(&self) -> Result<(), SweepError> {
        let request = ListUnpublishedJobsRequest {
            older_than_secs: whole_secs(self.unpublished_after),
            limit: 0,
        };
        let registry = self.publishing.registry.clone();
        let jobs = registry.clone().list_unpublished_jobs(request).await?.into_inner().jobs;
        for job in &jobs {
            tracing::warn!(
                job_id = job.job_id,
                attempt = job.attempt,
                "publishing an unqueued job"
            );
            self.publishing.publish(job).await?;
        }
        Ok(())
    }

    /// Publishes again every job the registry lists as unstarted whose queue holds no
    /// message waiting, and says so in the job's log.
    async fn publish_unstarted(&self) -> Result<(), SweepError> {
        let request = ListUnstartedJobsRequest {
            older_than_secs: whole_secs(self.unstarted_after),
            limit: 0,
        };
        let registry = self.publishing.registry.clone();
        let jobs = registry.clone().list_unstarted_jobs(request).await?.into_inner().jobs;
        let mut queue_busy: HashMap<JobType, bool> = HashMap::new();
        for job in &jobs {
            let Some(job_type) = job_type_from_proto(job.job_type) else {
                tracing::warn!(job_id = job.job_id, job_type = job.job_type, "unknown job type");
                continue;
            };
            let busy = match queue_busy.get(&job_type) {
                Some(busy) => *busy,
                None => {
                    let busy = self.has_waiting(job_type).await?;
                    queue_busy.insert(job_type, busy);
                    busy
                }
            };
            if busy {
                // Its message may be among those waiting; the wait is checked again later.
                tracing::debug!(job_id = job.job_id, "unstarted job's queue is not empty");
                continue;
            }
            // The line first, and only while the job is New: a worker that started it
            // since it was listed needs no copy, and the log never says "Queued again"
            // after "Started".
            if !self.note_queued_again(job).await? {
                tracing::debug!(job_id = job.job_id, "unstarted job was started meanwhile");
                continue;
            }
            tracing::warn!(
                job_id = job.job_id,
                attempt = job.attempt,
                "publishing again a job no worker started: its message is probably lost"
            );
            self.publishing.publish(job).await?;
        }
        Ok(())
    }

    /// Whether the queue of `job_type` holds messages ready for a consumer.
    async fn has_waiting(&self, job_type: JobType) -> Result<bool, SweepError> {
        let stats = amqp::queue_stats(&self.connection, &self.names.queue(job_type)).await?;
        Ok(stats.is_some_and(|stats| stats.messages > 0))
    }

    /// "Queued again: ..." in the job's log, if the job is still New; answers whether
    /// it was.
    async fn note_queued_again(&self, job: &Job) -> Result<bool, SweepError> {
        let note = AddJobNoteRequest {
            account_id: job.account_id.clone(),
            job_id: job.job_id.clone(),
            note_id: uuid::Uuid::new_v4().to_string(),
            attempt: job.attempt,
            actor: ACTOR.to_owned(),
            message: format!(
                "Queued again: no worker started the job within {} s of its message being \
                 queued, so the message was probably lost",
                whole_secs(self.unstarted_after)
            ),
            only_while_new: true,
        };
        Ok(self.publishing.registry.clone().add_job_note(note).await?.into_inner().added)
    }
}

/// Half the shorter wait, between 1 and 5 seconds.
fn sweep_interval(shorter_wait: Duration) -> Duration {
    (shorter_wait / 2).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

fn whole_secs(wait: Duration) -> u32 {
    u32::try_from(wait.as_secs()).unwrap_or(u32::MAX)
}

/// Why a sweep stopped short.
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error("asking the registry for jobs to publish: {0}")]
    Registry(#[from] tonic::Status),
    #[error(transparent)]
    Broker(#[from] bgjobs_messaging::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_run_every_few_seconds() {
        assert_eq!(sweep_interval(Duration::from_secs(30)), Duration::from_secs(5));
        assert_eq!(sweep_interval(Duration::from_secs(4)), Duration::from_secs(2));
        assert_eq!(sweep_interval(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
