//! What the registry counts, served at `/metrics` (see `docs/operations.md`,
//! "Metrics"). Labels are bounded: an event's kind and what became of it, a stalled
//! job's fate, never a job.

use std::time::Duration;

use bgjobs_database::jobs::{Counters, RecordOutcome};
use bgjobs_domain::{JobStatus, JobType};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::applier::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StallLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job_type: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RowLabels {
    job_type: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
    result: &'static str,
}

/// Seconds from an event's occurrence to its application: milliseconds when all is
/// well, minutes when the registry was down or behind.
const LAG_BUCKETS: [f64; 12] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];

/// Seconds a job's attempt may run, from a small file's (tens of milliseconds) to a
/// large import's or deletion's (hours).
const DURATION_BUCKETS: [f64; 13] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0];

/// The registry's metrics, registered in its registry; cheap to clone.
#[derive(Clone, Debug)]
pub struct RegistryMetrics {
    events: Family<EventLabels, Counter>,
    lag: Histogram,
    stalls: Family<StallLabels, Counter>,
    judging: Gauge,
    jobs: Family<JobLabels, Counter>,
    rows: Family<RowLabels, Counter>,
    durations: Family<JobLabels, Histogram, fn() -> Histogram>,
}

impl RegistryMetrics {
    /// The registry's metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let events = Family::default();
        registry.register(
            "bgjobs_registry_events",
            "Job events taken off the stream, by kind and what became of them: applied (the \
             job changed), ignored (logged without effect: stale, out of order, a foreign \
             results key), duplicate (already recorded), unknown_job, malformed (dropped)",
            events.clone(),
        );
        let lag = Histogram::new(LAG_BUCKETS);
        registry.register_with_unit(
            "bgjobs_registry_event_lag",
            "Time from an event's occurrence (its occurred_at, the publisher's clock) to its \
             application",
            Unit::Seconds,
            lag.clone(),
        );
        let stalls = Family::default();
        registry.register(
            "bgjobs_registry_stalled_jobs",
            "Jobs In Progress whose worker went silent for the stall threshold, recovered by \
             the stall detector: requeued (as their next attempt) or failed (worker lost \
             after the last attempt)",
            stalls.clone(),
        );
        let judging = Gauge::default();
        registry.register(
            "bgjobs_registry_judging_stalls",
            "1 while the stall detector judges silent jobs; 0 while it waits for the \
             registry to keep up for a threshold: after start-up, after an event waited to \
             be applied, or after the database or NATS could not be reached",
            judging.clone(),
        );
        let jobs = Family::default();
        registry.register(
            "bgjobs_jobs",
            "Jobs that started, completed or failed, by type, as the registry recorded them \
             (each transition once, whichever replica applied it; a failure includes a \
             dead-lettered job and a stalled one given up)",
            jobs.clone(),
        );
        let rows = Family::default();
        registry.register(
            "bgjobs_job_rows",
            "Rows of finished jobs, by type and result: imported (processed and not \
             rejected; for a client deletion, rows deleted) or rejected",
            rows.clone(),
        );
        let durations: Family<JobLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register_with_unit(
            "bgjobs_job_duration",
            "How long the attempt of a job that ended ran, by type and status (completed or \
             failed): from its first Started event to the event that ended it, as the \
             workers timed them; a job failed by a dead letter or a stall is not timed",
            Unit::Seconds,
            durations.clone(),
        );
        let metrics = Self { events, lag, stalls, judging, jobs, rows, durations };
        // Every series exists from the start, so a rate over it is defined before the
        // first job of a type ends.
        for job_type in JobType::ALL {
            for status in ["started", "completed", "failed"] {
                let labels = JobLabels { job_type: job_type.as_str(), status };
                metrics.jobs.get_or_create(&labels).inc_by(0);
            }
        }
        metrics
    }

    /// Whether the stall detector judges silent jobs now.
    pub(crate) fn judging_stalls(&self, judging: bool) {
        self.judging.set(i64::from(judging));
    }

    /// Counts a stalled job recovered into `status` (New: requeued; Error: failed).
    pub(crate) fn stalled(&self, job_type: JobType, status: JobStatus) {
        let result = if status == JobStatus::Error { "failed" } else { "requeued" };
        self.stalls.get_or_create(&StallLabels { result }).inc();
        if status == JobStatus::Error {
            self.job(job_type, "failed");
        }
    }

    /// Counts a job of `job_type` failed because its message was dead-lettered.
    pub(crate) fn dead_lettered(&self, job_type: JobType) {
        self.job(job_type, "failed");
    }

    /// Counts an event's change of a job of `job_type` from `from` to `to`.
    fn transition(&self, job_type: JobType, from: JobStatus, to: JobStatus) {
        if from == JobStatus::New && to != JobStatus::New {
            self.job(job_type, "started");
        }
        if to != from {
            match to {
                JobStatus::Completed => self.job(job_type, "completed"),
                JobStatus::Error => self.job(job_type, "failed"),
                JobStatus::New | JobStatus::InProgress => {}
            }
        }
    }

    fn job(&self, job_type: JobType, status: &'static str) {
        self.jobs.get_or_create(&JobLabels { job_type: job_type.as_str(), status }).inc();
    }

    fn finished_rows(&self, job_type: JobType, counters: Counters) {
        let job_type = job_type.as_str();
        let imported = counters.rows_processed.saturating_sub(counters.rows_rejected);
        for (result, rows) in [("imported", imported), ("rejected", counters.rows_rejected)] {
            self.rows.get_or_create(&RowLabels { job_type, result }).inc_by(rows);
        }
    }

    /// Counts an event of `kind` that became `outcome`, `lag` after it occurred.
    pub(crate) fn handled(&self, kind: &'static str, outcome: &Outcome, lag: Option<Duration>) {
        let result = match outcome {
            Outcome::Recorded(RecordOutcome::Applied { .. }) => "applied",
            Outcome::Recorded(RecordOutcome::Ignored(_)) => "ignored",
            Outcome::Recorded(RecordOutcome::Duplicate) => "duplicate",
            Outcome::Recorded(RecordOutcome::UnknownJob) => "unknown_job",
            Outcome::Malformed(_) => "malformed",
        };
        self.events.get_or_create(&EventLabels { kind, result }).inc();
        if let Outcome::Recorded(RecordOutcome::Applied {
            status,
            from,
            job_type,
            final_counters,
            ran_for,
        }) = outcome
        {
            self.transition(*job_type, *from, *status);
            if let Some(counters) = final_counters {
                self.finished_rows(*job_type, *counters);
            }
            if let Some(ran_for) = ran_for {
                let status = if *status == JobStatus::Error { "failed" } else { "completed" };
                let labels = JobLabels { job_type: job_type.as_str(), status };
                self.durations.get_or_create(&labels).observe(ran_for.as_secs_f64());
            }
        }
        if let Some(lag) = lag {
            self.lag.observe(lag.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(from: JobStatus, status: JobStatus, final_counters: Option<Counters>) -> Outcome {
        let job_type = JobType::ProductUpload;
        let ran_for = final_counters.map(|_| Duration::from_secs(42));
        Outcome::Recorded(RecordOutcome::Applied {
            status,
            from,
            job_type,
            final_counters,
            ran_for,
        })
    }

    #[test]
    fn each_job_transition_is_counted_once_by_type_with_the_rows_of_finished_jobs() {
        use JobStatus::{Completed, Error, InProgress, New};
        let mut registry = Registry::default();
        let metrics = RegistryMetrics::register(&mut registry);
        let rows = |processed, rejected| Counters {
            rows_total: processed,
            rows_processed: processed,
            rows_rejected: rejected,
        };
        metrics.handled("started", &applied(New, InProgress, None), None);
        metrics.handled("progress", &applied(InProgress, InProgress, None), None);
        metrics.handled("completed", &applied(InProgress, Completed, Some(rows(10, 2))), None);
        // A Started that releases a held Failed: the job starts and fails at once.
        metrics.handled("started", &applied(New, Error, Some(rows(5, 5))), None);
        metrics.handled("completed", &Outcome::Recorded(RecordOutcome::Duplicate), None);
        metrics.stalled(JobType::DeleteClient, Error);
        metrics.stalled(JobType::DeleteClient, New);
        metrics.dead_lettered(JobType::WarehouseUpload);

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encoded");
        for line in [
            r#"bgjobs_jobs_total{job_type="product-upload",status="started"} 2"#,
            r#"bgjobs_jobs_total{job_type="product-upload",status="completed"} 1"#,
            r#"bgjobs_jobs_total{job_type="product-upload",status="failed"} 1"#,
            r#"bgjobs_jobs_total{job_type="delete-client",status="failed"} 1"#,
            r#"bgjobs_jobs_total{job_type="delete-client",status="started"} 0"#,
            r#"bgjobs_jobs_total{job_type="warehouse-upload",status="failed"} 1"#,
            r#"bgjobs_job_rows_total{job_type="product-upload",result="imported"} 8"#,
            r#"bgjobs_job_rows_total{job_type="product-upload",result="rejected"} 7"#,
            r#"bgjobs_registry_stalled_jobs_total{result="requeued"} 1"#,
            // Each ended attempt timed once (42 s here), under its status.
            r#"bgjobs_job_duration_seconds_count{job_type="product-upload",status="completed"} 1"#,
            r#"bgjobs_job_duration_seconds_sum{job_type="product-upload",status="completed"} 42.0"#,
            r#"bgjobs_job_duration_seconds_count{job_type="product-upload",status="failed"} 1"#,
        ] {
            assert!(text.lines().any(|got| got == line), "{line} not in:\n{text}");
        }
    }
}
