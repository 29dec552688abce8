//! The life of one delivery, the same for every job type: check the message's ids and
//! input key, report Started (or "Resumed by" on a redelivery), run the job, report how
//! it ended (Completed, Failed, or a Log line before a delayed retry or giving up) and
//! say what to do with the message.

use std::future::Future;
use std::time::{Duration, Instant};

use bgjobs_database::CatalogStore;
use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::{AccountId, EventKind, JobId, JobType};
use bgjobs_messaging::events::EventPublisher;
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::JobMessage;
use tracing::Instrument;

use bgjobs_messaging::amqp::Delay;

use crate::backoff::{Backoff, RetryPolicy};
use crate::delivery::{Delivery, Finished, Stop};
use crate::emitter::Emitter;
use crate::metrics::RowRate;
use crate::outcome::Outcome;
use crate::settings::Settings;

/// What a consumer's job type brings to the shared worker and delivery lifecycle.
pub trait Job: Clone + Send + Sync + 'static {
    /// The job type whose queue this consumer takes messages from.
    const TYPE: JobType;

    /// What its jobs are called in logs, e.g. "product uploads".
    const JOBS: &'static str;

    /// The consumer's configuration; the shared part is what [`AsRef`] gives.
    type Settings: AsRef<Settings> + Send + Sync;

    /// The job over the connections the worker made.
    fn new(connections: Connections, settings: &Self::Settings) -> Self;

    /// Does the work of one delivery, reporting progress through `emitter`.
    fn run(
        &self,
        delivery: &Delivery<'_>,
        emitter: &mut Emitter,
    ) -> impl Future<Output = Result<Finished, Stop>> + Send;
}

/// The connections a job may use, made once by the worker.
#[derive(Clone)]
pub struct Connections {
    /// The catalog (and jobs) database.
    pub store: CatalogStore,
    /// Input and results files.
    pub objects: ObjectStore,
}

/// How long a delivery's pass may emit nothing before its heartbeats stop, unless
/// [`Processor::stuck_after`] says otherwise (`BGJOBS_STUCK_AFTER_SECS`).
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(120);

/// Handles deliveries of one job type; cheap to clone.
#[derive(Clone)]
pub struct Processor<J> {
    job: J,
    events: EventPublisher,
    worker_id: String,
    heartbeat: Duration,
    stuck_after: Duration,
    retry_policy: RetryPolicy,
    row_rate: Option<RowRate>,
}

impl<J: Job> Processor<J> {
    /// A processor running `job`, reporting through `events` as `worker_id`, with a
    /// heartbeat whenever a delivery has said nothing for `heartbeat` (as long as its
    /// pass emitted an event within [`DEFAULT_STUCK_AFTER`]), retrying transient
    /// faults as `retry_policy` says.
    pub fn new(
        job: J,
        events: EventPublisher,
        worker_id: String,
        heartbeat: Duration,
        retry_policy: RetryPolicy,
    ) -> Self {
        let stuck_after = DEFAULT_STUCK_AFTER;
        Self { job, events, worker_id, heartbeat, stuck_after, retry_policy, row_rate: None }
    }

    /// Reports the pace of each job completed in one delivery to `row_rate`.
    pub fn counting_rows(mut self, row_rate: RowRate) -> Self {
        self.row_rate = Some(row_rate);
        self
    }

    /// Stops a delivery's heartbeats once its pass has emitted nothing of its own (no
    /// Progress, no log line) for `stuck_after`: the work looks blocked, and the
    /// registry's stall detection then recovers the job.
    pub fn stuck_after(mut self, stuck_after: Duration) -> Self {
        self.stuck_after = stuck_after;
        self
    }

    /// Processes one delivery of a job message. `delivery` is 1 for the first
    /// delivery, +1 for each redelivery; `retries` counts the delayed retries that
    /// came before it. The work is one span in the trace `traceparent` (the
    /// message's) names, and the job's events carry that span on to the registry.
    pub async fn handle(
        &self,
        message: &JobMessage,
        delivery: u32,
        retries: u32,
        traceparent: Option<String>,
    ) -> Outcome {
        let span = tracing::info_span!(
            "process job",
            job_type = %J::TYPE,
            job_id = %message.job_id,
            attempt = message.attempt,
            delivery,
            trace_id = tracing::field::Empty
        );
        bgjobs_telemetry::follow(&span, traceparent.as_deref());
        // Without span export this service has no trace of its own: pass the
        // message's trace on unchanged.
        let traceparent = span.in_scope(bgjobs_telemetry::traceparent).or(traceparent);
        self.handle_in_span(message, delivery, retries, traceparent).instrument(span).await
    }

    async fn handle_in_span(
        &self,
        message: &JobMessage,
        delivery: u32,
        retries: u32,
        traceparent: Option<String>,
    ) -> Outcome {
        let began = Instant::now();
        let (job, account) =
            match (message.job_id.parse::<JobId>(), AccountId::parse(&message.account_id)) {
                (Ok(job), Ok(account)) => (job, account),
                (Err(error), _) => return Outcome::Poison { cause: error.to_string() },
                (_, Err(error)) => return Outcome::Poison { cause: error.to_string() },
            };
        if let Err(cause) = check_input_key(message, &account, job) {
            return Outcome::Poison { cause };
        }
        let mut emitter = Emitter::new(
            self.events.clone(),
            &message.job_id,
            &message.account_id,
            message.attempt,
            delivery,
            &self.worker_id,
            traceparent,
        );
        let started = if delivery > 1 {
            format!("Resumed by {} (delivery {delivery})", self.worker_id)
        } else {
            format!("Started by {}", self.worker_id)
        };
        if let Err(error) = emitter.emit(EventKind::Started, started, None, None).await {
            let cause = format!("publishing the Started event failed: {error}");
            return self.transient(&mut emitter, cause, retries).await;
        }
        let delivery = Delivery { message, job, account, number: delivery };
        match self.run_with_heartbeat(&delivery, &mut emitter).await {
            Ok(Finished { message, counters, result_key }) => {
                let emitted = emitter
                    .emit(EventKind::Completed, message.clone(), Some(counters), Some(result_key))
                    .await;
                match emitted {
                    Ok(()) => {
                        if let Some(row_rate) = &self.row_rate
                            && delivery.number == 1
                        {
                            row_rate.observe(counters.rows_processed, began.elapsed());
                        }
                        Outcome::Completed { message }
                    }
                    Err(error) => {
                        let cause = format!("publishing the Completed event failed: {error}");
                        self.transient(&mut emitter, cause, retries).await
                    }
                }
            }
            Err(stop @ (Stop::Fail(_) | Stop::FailWithResults(_))) => {
                let (message, counters, result_key) = match stop {
                    Stop::FailWithResults(Finished { message, counters, result_key }) => {
                        (message, Some(counters), Some(result_key))
                    }
                    Stop::Fail(message) | Stop::Retry(message) | Stop::Superseded(message) => {
                        (message, None, None)
                    }
                };
                match emitter.emit(EventKind::Failed, message.clone(), counters, result_key).await {
                    Ok(()) => Outcome::Failed { message },
                    Err(error) => {
                        let cause = format!("publishing the Failed event failed: {error}");
                        self.transient(&mut emitter, cause, retries).await
                    }
                }
            }
            Err(Stop::Superseded(cause)) => {
                // Logged by the registry without effect: the newer attempt goes on.
                let note = format!("Stopped, nothing more written: {cause}");
                let _ = emitter.emit_once(EventKind::Log, note).await;
                Outcome::Superseded { cause }
            }
            Err(Stop::Retry(cause)) => self.transient(&mut emitter, cause, retries).await,
        }
    }

    /// After a transient fault: a delayed retry, or dead-lettering once every retry
    /// was used; the message log says which (best effort: when events cannot be
    /// published, the retry is what matters).
    async fn transient(&self, emitter: &mut Emitter, cause: String, retries: u32) -> Outcome {
        let backoff = self.retry_policy.after(retries, rand::random());
        let note = self.retry_policy.describe(&cause, backoff);
        if let Err(error) = emitter.emit_once(EventKind::Log, note).await {
            tracing::warn!(%error, "the message log will not tell of this fault");
        }
        match backoff {
            Backoff::RetryIn { level, delay } => {
                Outcome::RetryLater { cause, delay: Delay { level, delay } }
            }
            Backoff::GiveUp => Outcome::GiveUp { cause },
        }
    }

    /// Runs the job while a heartbeat, polled in the same task and numbering its
    /// events through the same emitter, shows the delivery is alive and moving.
    async fn run_with_heartbeat(
        &self,
        delivery: &Delivery<'_>,
        emitter: &mut Emitter,
    ) -> Result<Finished, Stop> {
        let heartbeat = emitter.share();
        let (done, stopped) = tokio::sync::oneshot::channel();
        // Boxed: the job's future is deep, and nested in the join its layout would
        // exceed the compiler's query depth in the consumer binaries.
        let work = Box::pin(async {
            let ended = self.job.run(delivery, emitter).await;
            let _ = done.send(());
            ended
        });
        let (ended, ()) =
            tokio::join!(work, heartbeat.heartbeat(self.heartbeat, self.stuck_after, stopped));
        ended
    }
}

/// A message's input key, when it names one, must be the key derived from its account and
/// job: a message naming another file is unusable (poison), so that whoever can publish to
/// the queue cannot make a job read another account's file. Jobs read the derived key.
fn check_input_key(message: &JobMessage, account: &AccountId, job: JobId) -> Result<(), String> {
    if message.input_object_key.is_empty() {
        return Ok(());
    }
    JobFile::Input.check(account, job, &message.input_object_key).map_err(|foreign| {
        tracing::warn!(
            job_id = %job,
            account_id = %account,
            given_key = ?foreign.given,
            "job message refused: its input key is not the job's own"
        );
        format!("input_object_key {foreign}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_naming_another_accounts_input_is_refused_and_its_own_or_none_is_not() {
        let account = AccountId::parse("acme").expect("valid account");
        let job = JobId::new();
        let message = |key: String| JobMessage {
            job_id: job.to_string(),
            account_id: account.to_string(),
            input_object_key: key,
            ..Default::default()
        };
        assert_eq!(
            check_input_key(&message(format!("uploads/acme/{job}/input.csv")), &account, job),
            Ok(())
        );
        assert_eq!(check_input_key(&message(String::new()), &account, job), Ok(()));
        let cause =
            check_input_key(&message(format!("uploads/globex/{job}/input.csv")), &account, job)
                .expect_err("another account's file");
        assert!(
            cause.starts_with(&format!(
                "input_object_key 'uploads/globex/{job}/input.csv' is not this job's input file"
            )),
            "{cause}"
        );
    }
}
