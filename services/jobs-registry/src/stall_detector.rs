//! Stall recovery (docs/architecture.md, "Processing rules"): a job In Progress whose worker has
//! said nothing for the stall threshold is requeued on its next attempt (ingest's sweeper publishes
//! it), or fails with "worker lost" after the last attempt. Workers send a heartbeat well within
//! the threshold, so only a lost worker goes silent.
//!
//! Silence is judged from what the registry has applied, so it is judged only while the
//! registry keeps up: after start-up, and after any time the events backlog grew old, an
//! event taken off the stream waited long to be applied, or the database or NATS could
//! not be reached, the detector first waits a whole threshold of keeping up. A live worker's heartbeats (held back by an outage, then applied) reach
//! its job in that time; only a lost worker's job is still silent after it.

use std::time::Duration;

use bgjobs_database::JobsStore;
use bgjobs_domain::JobStatus;
use bgjobs_messaging::events::Backlog;
use chrono::Utc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::applier::Unapplied;
use crate::metrics::RegistryMetrics;

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

    /// How old the oldest unapplied event may be while the registry still counts as
    /// keeping up: the check interval, so a heartbeat is never late by more than a
    /// fifth of the threshold when silence is judged.
    pub fn lag_bound(&self) -> Duration {
        self.check_interval()
    }
}

/// Whether silence may be judged: only after a whole threshold of keeping up (since
/// start-up, or since the registry last fell behind).
#[derive(Debug)]
struct KeepingUp {
    since: Option<Instant>,
    settings: StallSettings,
}

/// What a look at the backlog allows.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Silence may be judged now.
    Judge,
    /// Not yet; the reason is logged when it first applies.
    Wait(String),
}

impl KeepingUp {
    fn new(settings: StallSettings) -> Self {
        Self { since: None, settings }
    }

    /// Records what a look at the backlog found at `now` (its age, or why it could not
    /// be read).
    fn observe(&mut self, backlog: Result<Duration, String>, now: Instant) -> Verdict {
        let behind = match backlog {
            Ok(age) if age <= self.settings.lag_bound() => None,
            Ok(age) => Some(format!("job events are applied {} s late", age.as_secs())),
            Err(error) => Some(format!("the event backlog cannot be read: {error}")),
        };
        if let Some(reason) = behind {
            self.fell_behind();
            return Verdict::Wait(reason);
        }
        let since = *self.since.get_or_insert(now);
        let kept_up = now.saturating_duration_since(since);
        if kept_up >= self.settings.threshold {
            Verdict::Judge
        } else {
            Verdict::Wait(format!(
                "keeping up for {} s of the {} s needed before silence is judged",
                kept_up.as_secs(),
                self.settings.threshold.as_secs()
            ))
        }
    }

    /// The registry could not keep up (a sweep failed: the database is unavailable).
    fn fell_behind(&mut self) {
        self.since = None;
    }
}

/// Finds and recovers stalled jobs of every account.
#[derive(Debug, Clone)]
pub struct StallDetector {
    store: JobsStore,
    settings: StallSettings,
    backlog: Backlog,
    unapplied: Unapplied,
    metrics: RegistryMetrics,
}

impl StallDetector {
    /// A detector over `store`, judging silence only while the registry keeps up:
    /// while neither `backlog` (the events its durable consumer has not delivered) nor
    /// `unapplied` (those this replica took and has not applied) holds an old event.
    /// Counts what it recovers in `metrics`.
    pub fn new(
        store: JobsStore,
        settings: StallSettings,
        backlog: Backlog,
        unapplied: Unapplied,
        metrics: RegistryMetrics,
    ) -> Self {
        Self { store, settings, backlog, unapplied, metrics }
    }

    /// Sweeps every check interval until `stop` is cancelled, once the registry has
    /// kept up for a threshold (see the module's documentation). A failed sweep (the
    /// database unreachable) is logged and counts as falling behind.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let mut ticks = tokio::time::interval(self.settings.check_interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut keeping_up = KeepingUp::new(self.settings);
        let mut waiting_because: Option<String> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            // Delivered events wait here while the database is unavailable: a sweep
            // that ran on once it was back would find their jobs silent.
            let backlog = self
                .backlog
                .age()
                .await
                .map(|age| age.max(self.unapplied.oldest()))
                .map_err(|error| error.to_string());
            let verdict = keeping_up.observe(backlog, Instant::now());
            self.metrics.judging_stalls(verdict == Verdict::Judge);
            match verdict {
                Verdict::Wait(reason) => {
                    if waiting_because.is_none() {
                        tracing::info!(reason, "not judging stalled jobs yet");
                    }
                    waiting_because = Some(reason);
                    continue;
                }
                Verdict::Judge => {
                    if waiting_because.take().is_some() {
                        tracing::info!("judging stalled jobs again: the registry keeps up");
                    }
                }
            }
            if let Err(error) = self.sweep().await {
                keeping_up.fell_behind();
                self.metrics.judging_stalls(false);
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
                    self.metrics.stalled(job.job_type, job.status);
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

    fn keeping_up() -> KeepingUp {
        KeepingUp::new(StallSettings { threshold: Duration::from_secs(10), max_attempts: 3 })
    }

    #[test]
    fn silence_is_judged_only_after_a_threshold_of_keeping_up() {
        let mut watch = keeping_up();
        let start = Instant::now();
        // Just started: a threshold of keeping up comes first.
        assert!(matches!(watch.observe(Ok(Duration::ZERO), start), Verdict::Wait(_)));
        let at = |secs| start + Duration::from_secs(secs);
        assert!(matches!(watch.observe(Ok(Duration::from_secs(1)), at(9)), Verdict::Wait(_)));
        assert_eq!(watch.observe(Ok(Duration::ZERO), at(10)), Verdict::Judge);
        assert_eq!(watch.observe(Ok(Duration::from_secs(2)), at(12)), Verdict::Judge);
    }

    #[test]
    fn an_old_backlog_or_an_unreadable_one_starts_the_wait_again() {
        let mut watch = keeping_up();
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        watch.observe(Ok(Duration::ZERO), start);
        assert_eq!(watch.observe(Ok(Duration::ZERO), at(10)), Verdict::Judge);
        // Events 3 s late with a 2 s bound (a fifth of the threshold): behind.
        assert_eq!(
            watch.observe(Ok(Duration::from_secs(3)), at(11)),
            Verdict::Wait("job events are applied 3 s late".to_owned())
        );
        assert!(matches!(watch.observe(Ok(Duration::ZERO), at(12)), Verdict::Wait(_)));
        assert!(matches!(watch.observe(Ok(Duration::ZERO), at(21)), Verdict::Wait(_)));
        assert_eq!(watch.observe(Ok(Duration::ZERO), at(22)), Verdict::Judge);
        // NATS unreachable: behind too.
        let unreadable = watch.observe(Err("connection refused".to_owned()), at(23));
        assert_eq!(
            unreadable,
            Verdict::Wait("the event backlog cannot be read: connection refused".to_owned())
        );
        assert!(matches!(watch.observe(Ok(Duration::ZERO), at(30)), Verdict::Wait(_)));
        // A failed sweep (the database unreachable) as well.
        assert_eq!(watch.observe(Ok(Duration::ZERO), at(40)), Verdict::Judge);
        watch.fell_behind();
        assert!(matches!(watch.observe(Ok(Duration::ZERO), at(41)), Verdict::Wait(_)));
    }

    #[test]
    fn the_check_interval_follows_the_threshold() {
        assert_eq!(StallSettings::default().check_interval(), Duration::from_secs(60));
        let short = StallSettings { threshold: Duration::from_secs(2), max_attempts: 3 };
        assert_eq!(short.check_interval(), Duration::from_secs(1));
    }
}
