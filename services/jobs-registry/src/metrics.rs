//! What the registry counts, served at `/metrics` (see `docs/operations.md`,
//! "Metrics"). Labels are bounded: an event's kind and what became of it, a stalled
//! job's fate, never a job.

use std::time::Duration;

use bgjobs_database::jobs::RecordOutcome;
use bgjobs_domain::JobStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::applier::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StallLabels {
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

/// The registry's metrics, registered in its registry; cheap to clone.
#[derive(Clone, Debug)]
pub struct RegistryMetrics {
    events: Family<EventLabels, Counter>,
    lag: Histogram,
    stalls: Family<StallLabels, Counter>,
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
        Self { events, lag, stalls }
    }

    /// Counts a stalled job recovered into `status` (New: requeued; Error: failed).
    pub(crate) fn stalled(&self, status: JobStatus) {
        let result = if status == JobStatus::Error { "failed" } else { "requeued" };
        self.stalls.get_or_create(&StallLabels { result }).inc();
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
        if let Some(lag) = lag {
            self.lag.observe(lag.as_secs_f64());
        }
    }
}
