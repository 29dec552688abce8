//! The consumer loop every job type shares: connect, declare the queue topology,
//! take messages while fewer than the configured number of jobs run, process each and
//! settle it as its outcome says.

use std::future::Future;
use std::time::Duration;

use bgjobs_database::Store;
use bgjobs_messaging::amqp::{JobDeliveries, JobDelivery};
use bgjobs_messaging::{Names, amqp, events};
use bgjobs_object_store::ObjectStore;
use futures::stream::FuturesUnordered;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use std::net::SocketAddr;
use std::time::Instant;

use bgjobs_service::Limits;
use bgjobs_service::ops::Ops;
use prometheus_client::registry::Registry;

use crate::health::Readiness;
use crate::metrics::ConsumerMetrics;
use crate::outcome::settle;
use crate::processor::{Connections, Job, Processor};

/// A consumer of one job type's queue.
pub struct Worker<J> {
    processor: Processor<J>,
    connection: lapin::Connection,
    publisher: amqp::JobPublisher,
    names: Names,
    prefetch: u16,
    /// Jobs processed at once.
    concurrency: usize,
    worker_id: String,
    shutdown_grace: Duration,
    /// Cancelled at shutdown; the event publisher then stops trying again.
    stopping: CancellationToken,
    metrics: ConsumerMetrics,
    /// The probes and metrics, when `BGJOBS_OPS_ADDR` is set.
    ops: Option<Ops>,
}

impl<J: Job> Worker<J> {
    /// Connects to everything the consumer needs and declares the queue topology.
    pub async fn build(settings: J::Settings) -> Result<Self, Error> {
        let shared = settings.as_ref();
        bgjobs_service::install_crypto_provider();
        let database = Store::connect_with(shared.database_url.expose(), &shared.store).await?;
        let store = database.catalog();
        let objects = ObjectStore::connect(&shared.s3).await?;
        let names = Names::new(shared.prefix.to_string());
        let nats = events::connect(shared.nats_url.expose()).await?;
        events::ensure_stream(&nats, &names, shared.events_replicas).await?;
        let stopping = CancellationToken::new();
        let retry = events::PublishRetry { give_up: shared.event_give_up, stop: stopping.clone() };
        let publisher = events::EventPublisher::new(nats.clone(), names.clone()).retrying(retry);
        let connection = amqp::connect(shared.amqp_url.expose()).await?;
        let queue_settings = amqp::QueueSettings { delivery_limit: shared.delivery_limit };
        // Only its own type's queues: its broker user has no rights on the others'.
        amqp::declare_job_type(&connection, &names, &queue_settings, J::TYPE).await?;
        amqp::declare_delay_queues(&connection, &names, J::TYPE, shared.retry.attempts).await?;
        let job_publisher = amqp::JobPublisher::new(&connection, &names).await?;
        let job = J::new(Connections { store, objects }, &settings);
        let shared = settings.as_ref();
        let processor = Processor::new(
            job,
            publisher,
            shared.worker_id.clone(),
            shared.heartbeat,
            shared.retry,
        )
        .stuck_after(shared.stuck_after);
        let mut registry = Registry::default();
        let metrics = ConsumerMetrics::register(&mut registry, J::TYPE.as_str());
        let processor = processor.counting_rows(metrics.row_rate());
        let ops = match shared.ops_addr {
            None => None,
            Some(addr) => {
                let readiness =
                    Readiness { amqp: connection.status().clone(), nats, store: database };
                Some(Ops::bind(addr, readiness, registry, Limits::default()).await?)
            }
        };
        Ok(Self {
            processor,
            connection,
            publisher: job_publisher,
            names,
            prefetch: shared.prefetch,
            concurrency: shared.concurrency,
            worker_id: shared.worker_id.clone(),
            shutdown_grace: shared.shutdown_grace,
            stopping,
            metrics,
            ops,
        })
    }

    /// Where the probes and metrics are served, when they are.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(Ops::local_addr)
    }

    /// The processor, for driving single messages in tests.
    pub fn processor(&self) -> &Processor<J> {
        &self.processor
    }

    /// Consumes, running up to `BGJOBS_CONCURRENCY` jobs at once, until `shutdown`
    /// completes, then stops taking messages. The jobs being processed then get the
    /// shutdown grace period (`BGJOBS_SHUTDOWN_GRACE_SECS`) to finish; one that does
    /// not is stopped between two steps (an uncommitted batch rolls back) and its
    /// message handed back to the queue, so another worker resumes it from its
    /// checkpoint. Messages prefetched but not started go back when the
    /// consumer's channel closes. A job whose event NATS is not acknowledging (an
    /// outage) does not wait it out: its event is not tried again, and the delivery
    /// is retried later through the delay queues like any transient fault.
    ///
    /// The probes and metrics are served until the consumer has stopped.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let ops_stop = CancellationToken::new();
        let ops =
            self.ops.take().map(|ops| tokio::spawn(ops.serve(ops_stop.clone().cancelled_owned())));
        let consumed = self.consume_until(shutdown).await;
        ops_stop.cancel();
        if let Some(ops) = ops
            && let Err(error) = ops.await
        {
            tracing::warn!(%error, "the operations endpoints' task failed");
        }
        consumed
    }

    async fn consume_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let deliveries =
            amqp::consume(&self.connection, &self.names, J::TYPE, self.prefetch, &self.worker_id)
                .await?;
        tracing::info!(worker = %self.worker_id, "consuming {}", J::JOBS);
        let stop = &self.stopping;
        let signal = async {
            shutdown.await;
            stop.cancel();
            // Only the consuming loop ends the select below.
            std::future::pending::<()>().await
        };
        let consumed = tokio::select! {
            consumed = self.consume(deliveries, stop) => consumed,
            () = signal => unreachable!("the shutdown watcher never completes"),
        };
        consumed?;
        tracing::info!("stopped taking {}", J::JOBS);
        Ok(())
    }

    /// Takes deliveries while fewer than `concurrency` jobs run, until `stop`; then
    /// lets the running ones finish (or hand themselves back) before returning.
    ///
    /// A delivery stream that fails or ends (the broker connection closed, the
    /// consumer cancelled) or a job that cannot be settled also stops the taking,
    /// but not the jobs running: like a single job, each goes on to its own end (a
    /// replacing delivery's takeover, fencing, or its ack failing on the closed
    /// channel), and the first error is returned once they all have.
    async fn consume(
        &self,
        mut deliveries: JobDeliveries,
        stop: &CancellationToken,
    ) -> Result<(), Error> {
        let mut running = FuturesUnordered::new();
        let mut failed = loop {
            tokio::select! {
                // Once stopping, nothing new is started even if a message is waiting.
                biased;
                () = stop.cancelled() => break None,
                Some(settled) = running.next() => if let Err(error) = settled {
                    break Some(error);
                },
                next = deliveries.next(), if running.len() < self.concurrency => match next {
                    Some(Ok(delivery)) => running.push(self.run_one(delivery, stop)),
                    Some(Err(error)) => break Some(error.into()),
                    None => break Some(Error::Cancelled { job_type: J::TYPE.to_string() }),
                },
            }
        };
        if !running.is_empty() {
            if failed.is_none() {
                // Nothing more for this worker, or a message handed back (or the next
                // one, once a running one is acked) would come straight back to it and
                // count one more delivery when its channel closes.
                if let Err(error) = deliveries.cancel().await {
                    tracing::warn!(%error, "cancelling the queue consumer failed");
                }
            } else {
                tracing::warn!(
                    running = running.len(),
                    "no more messages will be taken; letting the running jobs end"
                );
            }
        }
        while let Some(settled) = running.next().await {
            if let Err(error) = settled {
                tracing::warn!(%error, "a running job could not be settled");
                failed.get_or_insert(error);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Processes one delivery and settles it as its outcome says. After `stop` it has
    /// the shutdown grace period to finish; if it does not, its message is handed back.
    async fn run_one(&self, delivery: JobDelivery, stop: &CancellationToken) -> Result<(), Error> {
        let started = Instant::now();
        let _in_progress = self.metrics.started();
        let outcome = {
            let handling = self.processor.handle(
                &delivery.message,
                delivery.delivery,
                delivery.retries,
                delivery.traceparent.clone(),
            );
            tokio::pin!(handling);
            tokio::select! {
                outcome = &mut handling => Some(outcome),
                () = stop.cancelled() => {
                    tracing::info!(
                        job_id = delivery.message.job_id,
                        grace = ?self.shutdown_grace,
                        "shutdown requested mid-job; letting it finish within the grace period"
                    );
                    tokio::time::timeout(self.shutdown_grace, &mut handling).await.ok()
                }
            }
        };
        match outcome {
            Some(outcome) => {
                self.metrics.settled(&outcome, started.elapsed());
                settle(delivery, outcome, &self.publisher).await?;
            }
            None => {
                self.metrics.handed_back(started.elapsed());
                tracing::warn!(
                    job_id = delivery.message.job_id,
                    "job not finished within the shutdown grace period; handing it back"
                );
                delivery.requeue().await?;
            }
        }
        Ok(())
    }
}

/// Completes on SIGTERM (Kubernetes rollouts) or Ctrl-C: what a consumer binary
/// passes to [`Worker::run_until_stopped`].
pub use bgjobs_telemetry::shutdown_signal;

/// Why a worker could not start or stopped consuming.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached.
    #[error(transparent)]
    Store(#[from] bgjobs_database::Error),
    /// Object storage could not be reached.
    #[error(transparent)]
    Storage(#[from] bgjobs_object_store::Error),
    /// RabbitMQ or NATS failed.
    #[error(transparent)]
    Messaging(#[from] bgjobs_messaging::Error),
    /// The probes' and metrics' address could not be bound.
    #[error(transparent)]
    Ops(#[from] std::io::Error),
    /// The broker cancelled the queue consumer (the queue was deleted, or the node
    /// went away): the process should exit so the orchestrator restarts it.
    #[error("the {job_type} queue consumer was cancelled by the broker")]
    Cancelled {
        /// The job type whose queue it was.
        job_type: String,
    },
}
