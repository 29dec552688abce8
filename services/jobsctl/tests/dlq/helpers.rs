//! A registry in-process, a broker topology under the test's prefix, and ways to put
//! job messages into a dead-letter queue the way RabbitMQ does.

use bgjobs_config::Environment;
use std::sync::Once;
use std::time::Duration;

use anyhow::Context;
use bgjobs_database::Store;
use bgjobs_database::jobs::IncomingEvent;
use bgjobs_domain::{AccountId, EventKind, EventPosition, JobId, JobType};
use bgjobs_identity::{Service, policies};
use bgjobs_messaging::amqp::{self, DlqReader, JobDelivery, JobPublisher, QueueSettings};
use bgjobs_messaging::{Names, events};
use bgjobs_proto::Message;
use bgjobs_proto::convert::job_type_to_proto;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{self, CreateJobRequest, JobMessage};
use bgjobs_test_support::pki::{self, AsAllowed};
use bgjobs_test_support::{brokers, names::messaging_prefix, postgres::fresh_database, wait};
use futures::StreamExt;
use jobs_registry::{Application, Settings};
use jobsctl::dlq::{ReplayOptions, ReplayReport, Selection};
use lapin::Connection;
use lapin::options::BasicGetOptions;
use lapin::types::FieldTable;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// How long a test waits for the broker or the registry.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A registry, its store, and a broker topology, all under one test's own names.
pub struct TestStack {
    /// A client of the registry, calling each method as an identity allowed to.
    pub registry: JobsRegistryClient<AsAllowed>,
    /// A client of the registry calling as jobsctl.
    jobsctl: JobsRegistryClient<Channel>,
    /// The registry's database, to put jobs in a given state.
    pub store: Store,
    /// A connection to the local RabbitMQ as its admin, for the harness.
    pub connection: Connection,
    /// A connection as jobsctl's own RabbitMQ user, for the commands under test.
    pub operator: Connection,
    /// The test's queue and exchange names.
    pub names: Names,
    nats: async_nats::Client,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts a registry on a fresh database and declares the topology under a fresh
/// prefix, with a delivery limit of 1 (a message returned twice is dead-lettered).
pub async fn stack() -> anyhow::Result<TestStack> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        bgjobs_service::install_crypto_provider();
    });
    let settings = Settings::load(&Environment::from_pairs(
        [
            ("BGJOBS_DATABASE_URL", fresh_database().await?),
            ("BGJOBS_PREFIX", messaging_prefix()),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .chain(pki::tls_env(Service::JobsRegistry))
        .chain(brokers::stack_env(Service::JobsRegistry)),
    ))?;
    let application = Application::build(settings.clone()).await?;
    let grpc_addr = application.grpc_addr();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let url = format!("https://{grpc_addr}");
    let registry = JobsRegistryClient::new(AsAllowed::new(&url, &policies::REGISTRY));
    let jobsctl =
        JobsRegistryClient::new(pki::channel(&url, Service::JobsRegistry, Service::Jobsctl));
    let store = Store::connect(settings.database_url.expose()).await?;
    let connection = amqp::connect(brokers::AMQP_ADMIN_URL).await?;
    let (_, operator_url) = brokers::stack_env(Service::Jobsctl).pop().context("jobsctl's URL")?;
    let operator = amqp::connect(&operator_url).await?;
    let names = Names::new(settings.prefix.to_string());
    amqp::declare_topology(&connection, &names, &QueueSettings { delivery_limit: 1 }).await?;
    let nats = events::connect(brokers::NATS_ADMIN_URL).await?;
    Ok(TestStack {
        registry,
        jobsctl,
        store,
        connection,
        operator,
        names,
        nats,
        shutdown: Some(shutdown),
        running: Some(running),
    })
}

/// How a test makes RabbitMQ dead-letter a message.
#[derive(Debug, Clone, Copy)]
pub enum Death {
    /// A consumer rejects it without requeue: cause `rejected`.
    Rejected,
    /// Consumers hand it back until the delivery limit: cause `delivery_limit`.
    DeliveryLimit,
}

impl TestStack {
    /// Registers a job of `job_type` for `account` and returns its message (attempt 1).
    pub async fn job(&self, account: &str, job_type: JobType) -> anyhow::Result<JobMessage> {
        let job_id = JobId::new().to_string();
        let request = CreateJobRequest {
            job_id: job_id.clone(),
            account_id: account.into(),
            job_type: job_type_to_proto(job_type) as i32,
            input_object_key: format!("uploads/{account}/{job_id}/input.csv"),
            original_file_name: "input.csv".into(),
            parameters_json: "{}".into(),
            reference_ids: Some(v1::ReferenceIds { client_id: "c-1".into(), ..Default::default() }),
            created_by: "ann".into(),
            notify: None,
        };
        self.registry.clone().create_job(request).await?;
        Ok(message_of(&job_id, account, job_type))
    }

    /// Records a worker event on `message`'s job (position 1/1/`sequence`).
    pub async fn report(
        &self,
        message: &JobMessage,
        sequence: u64,
        kind: EventKind,
    ) -> anyhow::Result<()> {
        let event = IncomingEvent {
            event_id: uuid::Uuid::now_v7(),
            job_id: message.job_id.parse()?,
            account_id: AccountId::parse(&message.account_id)?,
            position: EventPosition { attempt: message.attempt, delivery: 1, sequence },
            kind,
            occurred_at: chrono::Utc::now(),
            message: format!("{} by the worker", kind.as_str()),
            counters: None,
            result_object_key: None,
            worker_id: "product-upload/test".into(),
        };
        self.store.jobs().record_event(event).await?;
        Ok(())
    }

    /// Publishes `message` and has RabbitMQ dead-letter it the way `death` says;
    /// returns once it is in its dead-letter queue.
    pub async fn dead_letter(&self, message: &JobMessage, death: Death) -> anyhow::Result<()> {
        self.dead_letter_with(message, FieldTable::default(), death).await
    }

    /// Like [`dead_letter`](Self::dead_letter), the message published with `headers`.
    pub async fn dead_letter_with(
        &self,
        message: &JobMessage,
        headers: FieldTable,
        death: Death,
    ) -> anyhow::Result<()> {
        let job_type = bgjobs_proto::convert::job_type_from_proto(message.job_type)
            .context("test messages have a job type")?;
        let dlq = self.names.dead_letter_queue(job_type);
        let before = amqp::queue_depth(&self.connection, &dlq).await?;
        let publisher = JobPublisher::new(&self.connection, &self.names).await?;
        publisher.publish_with_headers(message, headers).await?;
        let mut deliveries =
            amqp::consume(&self.connection, &self.names, job_type, 1, "test").await?;
        let returns = match death {
            Death::Rejected => 0,
            Death::DeliveryLimit => 2,
        };
        for _ in 0..returns {
            next(&mut deliveries).await?.requeue().await?;
        }
        if let Death::Rejected = death {
            next(&mut deliveries).await?.dead_letter().await?;
        }
        drop(deliveries);
        self.wait_for_depth(&dlq, before + 1).await
    }

    /// Waits until `queue` holds `expected` ready messages.
    pub async fn wait_for_depth(&self, queue: &str, expected: u32) -> anyhow::Result<()> {
        wait::until(&format!("{queue} to hold {expected} message(s)"), DEADLINE, || async {
            let depth = amqp::queue_depth(&self.connection, queue).await?;
            Ok((depth == expected).then_some(()))
        })
        .await
    }

    /// The job ids in `job_type`'s dead-letter queue, in queue order (handed back after),
    /// once it holds `expected` messages: RabbitMQ takes back handed-back messages
    /// asynchronously, so a read right after a replay could miss some.
    pub async fn dead_letter_jobs(
        &self,
        job_type: JobType,
        expected: u32,
    ) -> anyhow::Result<Vec<String>> {
        self.wait_for_depth(&self.names.dead_letter_queue(job_type), expected).await?;
        let mut reader = DlqReader::open(&self.connection, &self.names, job_type).await?;
        let mut jobs = Vec::new();
        while let Some(letter) = reader.next().await? {
            jobs.push(letter.message.map(|message| message.job_id).unwrap_or_default());
        }
        reader.hand_back().await?;
        Ok(jobs)
    }

    /// Runs `jobsctl dlq replay` with `selection` as oscar, without a rate limit.
    pub async fn replay(
        &self,
        selection: Selection,
        dry_run: bool,
    ) -> anyhow::Result<ReplayReport> {
        let options = ReplayOptions {
            selection,
            operator: "oscar".into(),
            reason: "cause fixed".into(),
            dry_run,
            rate: None,
        };
        let mut registry = self.jobsctl.clone();
        let hidden = indicatif::ProgressBar::hidden();
        jobsctl::dlq::replay(&self.operator, &self.names, &mut registry, &options, &hidden).await
    }

    /// Takes every message from `job_type`'s job queue (removing them), with its
    /// message id and headers.
    pub async fn take_job_messages(&self, job_type: JobType) -> anyhow::Result<Vec<Taken>> {
        let channel = self.connection.create_channel().await?;
        let queue = self.names.queue(job_type);
        let mut taken = Vec::new();
        while let Some(got) =
            channel.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }).await?
        {
            let properties = got.delivery.properties;
            taken.push(Taken {
                message: JobMessage::decode(got.delivery.data.as_slice())?,
                message_id: properties.message_id().as_ref().map(|id| id.to_string()),
                headers: properties.headers().clone().unwrap_or_default(),
            });
        }
        channel.close(200, "OK".into()).await?;
        Ok(taken)
    }

    /// Deletes the test's queues, exchanges and event stream and stops the registry.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        amqp::delete_topology(&self.connection, &self.names).await?;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.context("the registry task panicked")??;
        }
        events::delete_stream(&self.nats, &self.names).await?;
        Ok(())
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// A message taken from a job queue.
#[derive(Debug)]
pub struct Taken {
    /// The decoded job message.
    pub message: JobMessage,
    /// Its AMQP message id.
    pub message_id: Option<String>,
    /// Its headers.
    pub headers: FieldTable,
}

/// The job message of a job that was just created.
pub fn message_of(job_id: &str, account: &str, job_type: JobType) -> JobMessage {
    JobMessage {
        job_id: job_id.into(),
        account_id: account.into(),
        job_type: job_type_to_proto(job_type) as i32,
        attempt: 1,
        input_object_key: format!("uploads/{account}/{job_id}/input.csv"),
        parameters_json: "{}".into(),
        reference_ids: Some(v1::ReferenceIds { client_id: "c-1".into(), ..Default::default() }),
        created_by: "ann".into(),
    }
}

async fn next(
    deliveries: &mut (impl futures::Stream<Item = Result<JobDelivery, bgjobs_messaging::Error>> + Unpin),
) -> anyhow::Result<JobDelivery> {
    let delivery = tokio::time::timeout(DEADLINE, deliveries.next())
        .await
        .context("no delivery in time")?
        .context("the consumer stopped")??;
    Ok(delivery)
}
