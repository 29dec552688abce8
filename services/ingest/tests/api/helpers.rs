//! Starting ingest and the registry in-process, each test with its own database,
//! bucket and broker prefix on the shared local stack.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Once;
use std::time::Duration;

use anyhow::Context;
use bgjobs_config::Environment;
use bgjobs_domain::JobType;
use bgjobs_identity::{Service, policies};
use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::{self, JobDelivery};
use bgjobs_messaging::events;
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{Job, ListJobsRequest};
use bgjobs_telemetry::{Export, LogFormat};
use bgjobs_test_support::names::messaging_prefix;
use bgjobs_test_support::pki::{self, AsAllowed};
use bgjobs_test_support::postgres::fresh_database;
use bgjobs_test_support::s3::{fresh_bucket, settings_for};
use bgjobs_test_support::{brokers, tokens, unique_suffix};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A running ingest and registry, with clients of everything they write to.
pub struct TestApp {
    /// `https://127.0.0.1:<port>` of ingest.
    pub address: String,
    /// An HTTP client for ingest with the gateway's certificate, sending the token of
    /// the test's user (see [`TestApp::user_token`]) unless a request sends another.
    pub http: reqwest::Client,
    /// A gRPC client of the registry (which runs even when ingest is pointed elsewhere).
    pub registry: JobsRegistryClient<AsAllowed>,
    /// The test's bucket.
    pub store: ObjectStore,
    /// A raw S3 client on the same server, to list what the store cannot.
    pub s3: aws_sdk_s3::Client,
    /// A RabbitMQ connection of the test's own.
    pub amqp: lapin::Connection,
    /// The broker names under the test's prefix.
    pub names: Names,
    /// A fresh account id for this test.
    pub account: String,
    ingest: Running,
    registry_server: Running,
}

/// A server task and the switch that stops it.
struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Spawns `run` with a shutdown signal that [`Running::stop`] fires.
    fn start<F>(run: impl FnOnce(Pin<Box<dyn Future<Output = ()> + Send>>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let signal = Box::pin(async move {
            let _ = stopped.await;
        });
        Self { shutdown: Some(shutdown), task: Some(tokio::spawn(run(signal))) }
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _already_stopped = shutdown.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("a server task panicked")?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed before `stop` still must not leave servers running.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the registry and ingest with default settings (but for isolation).
pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(|_| {}).await
}

/// Starts the registry and ingest; `adjust` may change ingest's settings before it
/// is built (the upload limit, the registry URL).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut ingest::Settings)) -> anyhow::Result<TestApp> {
    init_once();
    let prefix = messaging_prefix();

    let mut registry_settings =
        jobs_registry::Settings::load(&stack_environment(Service::JobsRegistry, Vec::new()))?;
    registry_settings.database_url = fresh_database().await?.parse().map_err(anyhow::Error::msg)?;
    registry_settings.prefix = prefix.parse().map_err(anyhow::Error::msg)?;
    registry_settings.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    registry_settings.tls = pki::tls(Service::JobsRegistry);
    let registry_app = jobs_registry::Application::build(registry_settings).await?;
    let registry_url = format!("https://{}", registry_app.grpc_addr());
    let registry_server = Running::start(|signal| registry_app.run_until_stopped(signal));

    let store = fresh_bucket().await?;
    let mut settings =
        ingest::Settings::load(&stack_environment(Service::Ingest, tokens::env().into()))?;
    settings.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.registry_url = registry_url.parse().map_err(anyhow::Error::msg)?;
    settings.prefix = prefix.parse().map_err(anyhow::Error::msg)?;
    settings.storage = settings_for(store.bucket());
    settings.tls = pki::tls(Service::Ingest);
    adjust(&mut settings);

    let application = ingest::Application::build(settings.clone()).await?;
    let address = format!("https://{}", application.local_addr());
    let ingest = Running::start(|signal| application.run_until_stopped(signal));

    let registry = JobsRegistryClient::new(AsAllowed::new(&registry_url, &policies::REGISTRY));
    let account = format!("acct-{}", unique_suffix());
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", user_token(&account, None, None));
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse()?);
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(
            pki::credentials(Service::Gateway).https_client_config(Service::Ingest)?,
        )
        .default_headers(headers)
        .build()?;
    Ok(TestApp {
        address,
        http,
        registry,
        store,
        s3: raw_s3_client(&settings.storage),
        amqp: amqp::connect(brokers::AMQP_ADMIN_URL).await?,
        names: Names::new(prefix),
        account,
        ingest,
        registry_server,
    })
}

/// The process's variables, with `service` signing in to the local stack's brokers as
/// its own users, and `extra` (the tests' identity provider, for ingest).
fn stack_environment(service: Service, extra: Vec<(&'static str, String)>) -> Environment<'static> {
    let ours: Vec<_> = brokers::stack_env(service).into_iter().chain(extra).collect();
    Environment::from_lookup(move |name| {
        let found = ours.iter().find(|(variable, _)| *variable == name);
        found.map(|(_, value)| value.clone()).or_else(|| std::env::var(name).ok())
    })
}

/// A token of Ann (`sub` `u-ann`, shown as `ann@example.com`) in `account`, who may
/// start jobs, with an address and a time zone when given.
pub fn user_token(account: &str, email: Option<&str>, time_zone: Option<&str>) -> String {
    let mut claims = tokens::claims(
        account,
        "ann@example.com",
        &[bgjobs_auth::VIEW_ROLE, bgjobs_auth::RETRY_ROLE],
    );
    claims.sub = "u-ann".to_owned();
    claims.email = email.map(str::to_owned);
    claims.zoneinfo = time_zone.map(str::to_owned);
    tokens::sign(&claims)
}

fn init_once() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        bgjobs_service::install_crypto_provider();
        // Logs only on request: `TEST_LOG=1 RUST_LOG=debug cargo test -p ingest`.
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = bgjobs_telemetry::init_with("ingest-tests", LogFormat::Text, Export::Off);
        }
    });
}

/// An S3 client on the test's server, for listing keys (the store has no listing).
fn raw_s3_client(settings: &bgjobs_object_store::Settings) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::tls;
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let credentials = Credentials::new(
        &settings.access_key_id,
        settings.secret_access_key.expose(),
        None,
        None,
        "test",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client)
        .region(Region::new(settings.region.as_str().to_owned()))
        .endpoint_url(settings.endpoint.as_str())
        .force_path_style(true)
        .credentials_provider(credentials)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

impl TestApp {
    /// The upload URL of this test's account.
    pub fn upload_url(&self) -> String {
        self.upload_url_for(&self.account)
    }

    /// The upload URL of any account id, valid or not.
    pub fn upload_url_for(&self, account: &str) -> String {
        format!("{}/v1/accounts/{account}/jobs/product-upload", self.address)
    }

    /// A product upload of `body` for client `c-1` by Ann.
    pub async fn upload(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .post(self.upload_url())
            .query(&[("client_id", "c-1")])
            .body(body)
            .send()
            .await?;
        Ok(response)
    }

    /// Every job of the test's account, newest first.
    pub async fn jobs(&self) -> anyhow::Result<Vec<Job>> {
        let request = ListJobsRequest { account_id: self.account.clone(), ..Default::default() };
        Ok(self.registry.clone().list_jobs(request).await?.into_inner().jobs)
    }

    /// Every key in the bucket under `uploads/<account>/`.
    pub async fn stored_keys(&self) -> anyhow::Result<Vec<String>> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(self.store.bucket())
            .prefix(format!("uploads/{}/", self.account))
            .send()
            .await
            .context("listing the test bucket")?;
        Ok(listed.contents().iter().filter_map(|object| object.key().map(str::to_owned)).collect())
    }

    /// Ready messages in the product-upload queue.
    pub async fn queued_messages(&self) -> anyhow::Result<u32> {
        Ok(amqp::queue_depth(&self.amqp, &self.names.queue(JobType::ProductUpload)).await?)
    }

    /// A consumer of the product-upload queue with prefetch 1: any message beyond the
    /// one it holds stays ready in the queue, where `queued_messages` counts it.
    pub async fn job_messages(&self) -> anyhow::Result<JobMessages> {
        let deliveries =
            amqp::consume(&self.amqp, &self.names, JobType::ProductUpload, 1, "ingest-test")
                .await?;
        Ok(JobMessages { deliveries: Box::pin(deliveries) })
    }

    /// Fails unless a refused upload left nothing behind: no object, no job, no message.
    pub async fn assert_nothing_left(&self) -> anyhow::Result<()> {
        assert_eq!(self.stored_keys().await?, Vec::<String>::new(), "objects were left in S3");
        assert!(self.jobs().await?.is_empty(), "a job was registered");
        assert_eq!(self.queued_messages().await?, 0, "a job message was queued");
        Ok(())
    }

    /// Stops both servers (failing if either failed) and deletes the test's queues and
    /// stream. The bucket and database are left for inspection (`deploy/stack.sh clean`).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.ingest.stop().await.context("ingest")?;
        self.registry_server.stop().await.context("jobs-registry")?;
        amqp::delete_topology(&self.amqp, &self.names).await?;
        let nats = events::connect(brokers::NATS_ADMIN_URL).await?;
        events::delete_stream(&nats, &self.names).await?;
        Ok(())
    }
}

/// Job messages as a consumer receives them; the channel lives as long as this does,
/// so deliveries can still be acked.
pub struct JobMessages {
    deliveries: BoxStream<'static, Result<JobDelivery, bgjobs_messaging::Error>>,
}

impl JobMessages {
    /// The next delivery, waiting for it up to [`DEADLINE`].
    pub async fn next(&mut self) -> anyhow::Result<JobDelivery> {
        let delivery = tokio::time::timeout(DEADLINE, self.deliveries.next())
            .await
            .context("no job message arrived in time")?
            .context("the consumer stopped")??;
        Ok(delivery)
    }
}

/// The JSON body of an answer.
pub async fn json_of(response: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let text = response.text().await?;
    serde_json::from_str(&text).with_context(|| format!("the answer is not JSON: {text}"))
}
