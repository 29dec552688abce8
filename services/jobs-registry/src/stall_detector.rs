//! Stall recovery (docs/architecture.md, "Processing rules"): a job In Progress whose worker has
//! said nothing for the stall threshold is requeued on its next attempt (ingest's sweeper publishes
//! it), or fails with "worker lost" after the last attempt. Workers send a heartbeat well within
//! the threshold, so only a lost worker goes silent.

use std::time::Duration;

use bgjobs_database::JobsStore;
use bgjobs_domain::JobStatus;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

/// Default stall threshold: five minutes of silence.
pub const DEFAULT_STALL_THRESHOLD_SECS: u64 = 300;
/// Default number of attempts a job gets in all before a stall fails it.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Jobs recovered per database round trip; a sweep repeats until none are left.
const BATCH: u32 = 100;

/// When a job counts as stalled, and how often it may be requeued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallSettings {
    /// Silence after which a running job is recovered (`BGJOBS_STALL_THRESHOLD_SECS`).
    pub threshold: Duration,
    /// Attempts a job gets before a stall fails it (`BGJOBS_MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

impl Default for StallSettings {
    fn default() -> Self {
        Self {
            threshold: Duration::from_secs(DEFAULT_STALL_THRESHOLD_SECS),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl StallSettings {
    /// How often to look for stalled jobs: a fifth of the threshold, between 1 and
    /// 60 seconds, so a job is recovered at most 20% after its threshold.
    pub fn check_interval(&self) -> Duration {
        (self.threshold / 5).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// Finds and recovers stalled jobs of every account.
#[derive(Debug, Clone)]
pub struct StallDetector {
    store: JobsStore,
    settings: StallSettings,
}

impl StallDetector {
    /// A detector over `store`.
    pub fn new(store: JobsStore, settings: StallSettings) -> Self {
        Self { store, settings }
    }

    /// Sweeps every check interval until `stop` is cancelled. A failed sweep (the
    /// database unreachable) is logged and tried again at the next interval.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let mut ticks = tokio::time::interval(self.settings.check_interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.sweep().await {
                tracing::warn!(%error, "looking for stalled jobs failed; trying again later");
            }
        }
    }

    /// Recovers every job stalled now; returns how many.
    pub async fn sweep(&self) -> Result<usize, bgjobs_database::Error> {
        let threshold = chrono::Duration::from_std(self.settings.threshold)
            .unwrap_or_else(|_| chrono::Duration::seconds(DEFAULT_STALL_THRESHOLD_SECS as i64));
        let mut recovered = 0;
        loop {
            let stalled_before = Utc::now() - threshold;
            let candidates =
                self.store.stale_jobs(&[JobStatus::InProgress], stalled_before, BATCH).await?;
            let found = candidates.len();
            for candidate in candidates {
                // Locked and checked again: an event may have arrived since the scan.
                let job = self
                    .store
                    .recover_stalled_job(
                        candidate.job_id,
                        stalled_before,
                        self.settings.max_attempts,
                    )
                    .await?;
                if let Some(job) = job {
                    tracing::warn!(
                        job_id = %job.job_id,
                        account_id = %job.account_id,
                        status = %job.status,
                        attempt = job.attempt,
                        message = job.message,
                        "stalled job recovered"
                    );
                    recovered += 1;
                }
            }
            if found < BATCH as usize {
                return Ok(recovered);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_interval_follows_the_threshold() {
        assert_eq!(StallSettings::default().check_interval(), Duration::from_secs(60));
        let short = StallSettings { threshold: Duration::from_secs(2), max_attempts: 3 };
        assert_eq!(short.check_interval(), Duration::from_secs(1));
    }
}
