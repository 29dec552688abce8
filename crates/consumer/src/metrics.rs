//! What a consumer counts, served at `/metrics` (see `docs/operations.md`, "Metrics").
//! Labels are bounded: the job type and what became of a delivery, never a job id.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::outcome::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    job_type: &'static str,
    outcome: &'static str,
}

/// Seconds a delivery may take, from a small file's (tens of milliseconds) to a
/// large import's (an hour).
const DURATION_BUCKETS: [f64; 12] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0];

/// Rows a second, from a slow database's hundreds to `COPY`-class hundreds of thousands.
const ROW_RATE_BUCKETS: [f64; 10] =
    [100.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 250_000.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    job_type: &'static str,
}

/// A consumer's metrics, registered in its registry; cheap to clone.
#[derive(Clone, Debug)]
pub struct ConsumerMetrics {
    job_type: &'static str,
    deliveries: Family<DeliveryLabels, Counter>,
    duration: Family<DeliveryLabels, Histogram, fn() -> Histogram>,
    in_progress: Gauge,
    row_rate: RowRate,
}

/// How fast completed jobs went through their rows.
#[derive(Clone, Debug)]
pub struct RowRate {
    job_type: &'static str,
    rates: Family<TypeLabels, Histogram, fn() -> Histogram>,
}

impl RowRate {
    /// Observes a job that went through `rows` rows in `elapsed`, in one delivery.
    pub(crate) fn observe(&self, rows: u64, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if rows > 0 && seconds > 0.0 {
            let rate = rows as f64 / seconds;
            self.rates.get_or_create(&TypeLabels { job_type: self.job_type }).observe(rate);
        }
    }
}

impl ConsumerMetrics {
    /// The metrics of a consumer of `job_type`, registered in `registry`.
    pub fn register(registry: &mut Registry, job_type: &'static str) -> Self {
        let deliveries = Family::default();
        registry.register(
            "bgjobs_consumer_deliveries",
            "Job message deliveries handled, by what became of them: completed, failed (for \
             good: a bad file, an unknown client), retried (a transient fault, put off), \
             dead_lettered (a transient fault after the last retry), superseded (a newer \
             attempt took over), poison (an unusable message), handed_back (unfinished at \
             shutdown)",
            deliveries.clone(),
        );
        let duration: Family<DeliveryLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register_with_unit(
            "bgjobs_consumer_delivery_duration",
            "Time from taking a job message to knowing what became of it, by outcome",
            Unit::Seconds,
            duration.clone(),
        );
        let in_progress = Gauge::default();
        registry.register(
            "bgjobs_consumer_deliveries_in_progress",
            "Job message deliveries being handled now",
            in_progress.clone(),
        );
        let rates: Family<TypeLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(ROW_RATE_BUCKETS));
        registry.register(
            "bgjobs_consumer_rows_per_second",
            "Rows a second of jobs completed in one delivery (from taking the message to \
             the Completed event; a resumed job is left out, its earlier rows were \
             written by another delivery)",
            rates.clone(),
        );
        let row_rate = RowRate { job_type, rates };
        Self { job_type, deliveries, duration, in_progress, row_rate }
    }

    /// Where the processor reports the pace of completed jobs.
    pub fn row_rate(&self) -> RowRate {
        self.row_rate.clone()
    }

    /// A delivery is being handled until the guard is dropped.
    pub(crate) fn started(&self) -> InProgress<'_> {
        self.in_progress.inc();
        InProgress(&self.in_progress)
    }

    /// Counts a delivery that became `outcome` after `elapsed`.
    pub(crate) fn settled(&self, outcome: &Outcome, elapsed: Duration) {
        self.count(outcome_label(outcome), elapsed);
    }

    /// Counts a delivery handed back unfinished at shutdown after `elapsed`.
    pub(crate) fn handed_back(&self, elapsed: Duration) {
        self.count("handed_back", elapsed);
    }

    fn count(&self, outcome: &'static str, elapsed: Duration) {
        let labels = DeliveryLabels { job_type: self.job_type, outcome };
        self.deliveries.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }
}

/// Marks a delivery in progress while it lives.
pub(crate) struct InProgress<'m>(&'m Gauge);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Completed { .. } => "completed",
        Outcome::Failed { .. } => "failed",
        Outcome::RetryLater { .. } => "retried",
        Outcome::GiveUp { .. } => "dead_lettered",
        Outcome::Superseded { .. } => "superseded",
        Outcome::Poison { .. } => "poison",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_counted_by_type_and_outcome_in_openmetrics_text() {
        let mut registry = Registry::default();
        let metrics = ConsumerMetrics::register(&mut registry, "product-upload");
        {
            let _handling = metrics.started();
            metrics
                .settled(&Outcome::Completed { message: "done".into() }, Duration::from_millis(70));
        }
        metrics.settled(&Outcome::Failed { message: "bad".into() }, Duration::from_secs(2));
        metrics.settled(&Outcome::Completed { message: "done".into() }, Duration::from_secs(20));
        metrics.row_rate().observe(3_000, Duration::from_secs(2));
        metrics.row_rate().observe(0, Duration::from_secs(2));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encoded");
        for line in [
            r#"bgjobs_consumer_deliveries_total{job_type="product-upload",outcome="completed"} 2"#,
            r#"bgjobs_consumer_deliveries_total{job_type="product-upload",outcome="failed"} 1"#,
            r#"bgjobs_consumer_delivery_duration_seconds_count{job_type="product-upload",outcome="completed"} 2"#,
            r#"bgjobs_consumer_delivery_duration_seconds_bucket{le="0.1",job_type="product-upload",outcome="completed"} 1"#,
            "bgjobs_consumer_deliveries_in_progress 0",
            r#"bgjobs_consumer_rows_per_second_count{job_type="product-upload"} 1"#,
            r#"bgjobs_consumer_rows_per_second_sum{job_type="product-upload"} 1500.0"#,
            r#"bgjobs_consumer_rows_per_second_bucket{le="1000.0",job_type="product-upload"} 0"#,
            r#"bgjobs_consumer_rows_per_second_bucket{le="2500.0",job_type="product-upload"} 1"#,
        ] {
            assert!(text.lines().any(|got| got == line), "{line} not in:\n{text}");
        }
    }
}
