//! Starting the registry in-process, one database and one broker prefix per test.

use bgjobs_config::Environment;
use std::net::SocketAddr;
use std::sync::Once;

use anyhow::Context;
use bgjobs_domain::JobId;
use bgjobs_identity::{Service, policies};
use bgjobs_messaging::Names;
use bgjobs_messaging::events::{self, EventPublisher};
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{self, CreateJobRequest, GetJobRequest};
use bgjobs_telemetry::{Export, LogFormat};
use bgjobs_test_support::pki::{self, AsAllowed};
use bgjobs_test_support::{brokers, postgres::fresh_database, unique_suffix};
use jobs_registry::{Application, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A registry running in the test's runtime, with a client connected to it.
pub struct TestApp {
    /// A gRPC client of the registry, calling each method as an identity allowed to.
    pub client: JobsRegistryClient<AsAllowed>,
    /// Where the registry serves gRPC.
    pub grpc_addr: SocketAddr,
    /// Where the registry serves its probes and metrics.
    pub ops_addr: SocketAddr,
    /// The settings the registry was started with (its own database and prefix).
    pub settings: Settings,
    /// A NATS connection of the test's own.
    pub nats: async_nats::Client,
    /// Publishes job events under the registry's prefix, as a worker would.
    pub publisher: EventPublisher,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts a registry on a fresh database, with a prefix of its own on the shared NATS.
pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with settings that `adjust` may change (the stall threshold).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<TestApp> {
    init_once();
    let mut settings = Settings::load(&Environment::from_pairs(
        [
            ("BGJOBS_DATABASE_URL", fresh_database().await?),
            ("BGJOBS_PREFIX", format!("t{}.", unique_suffix())),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .chain(pki::tls_env(Service::JobsRegistry))
        .chain(brokers::stack_env(Service::JobsRegistry)),
    ))?;
    settings.ops_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    adjust(&mut settings);
    let application = Application::build(settings.clone()).await?;
    let grpc_addr = application.grpc_addr();
    let ops_addr = application.ops_addr().context("the registry serves no metrics")?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = JobsRegistryClient::new(AsAllowed::new(
        &format!("https://{grpc_addr}"),
        &policies::REGISTRY,
    ));
    let nats = events::connect(brokers::NATS_ADMIN_URL).await?;
    let publisher = EventPublisher::new(nats.clone(), Names::new(settings.prefix.to_string()));
    Ok(TestApp {
        client,
        grpc_addr,
        ops_addr,
        settings,
        nats,
        publisher,
        shutdown: Some(shutdown),
        running: Some(running),
    })
}

fn init_once() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        bgjobs_service::install_crypto_provider();
        // Logs only on request: `TEST_LOG=1 RUST_LOG=debug cargo test -p jobs-registry`.
        if std::env::var_os("TEST_LOG").is_some() {
            let _ =
                bgjobs_telemetry::init_with("jobs-registry-tests", LogFormat::Text, Export::Off);
        }
    });
}

impl TestApp {
    /// Registers a product upload of `account` created by `created_by`.
    pub async fn create_job_by(&self, account: &str, created_by: &str) -> anyhow::Result<v1::Job> {
        let response = self
            .client
            .clone()
            .create_job(create_request(account, JobId::new(), created_by))
            .await?
            .into_inner();
        response.job.context("CreateJob answered without a job")
    }

    /// Registers a product upload of `account`.
    pub async fn create_job(&self, account: &str) -> anyhow::Result<v1::Job> {
        self.create_job_by(account, "ann@example.com").await
    }

    /// The job as GetJob answers it.
    pub async fn get_job(&self, account: &str, job_id: &str) -> Result<v1::Job, tonic::Status> {
        let request = GetJobRequest { account_id: account.into(), job_id: job_id.into() };
        let response = self.client.clone().get_job(request).await?.into_inner();
        response.job.ok_or_else(|| tonic::Status::internal("GetJob answered without a job"))
    }

    /// Retries `job` as `actor` through the RetryJob RPC.
    pub async fn retry(&self, job: &v1::Job, actor: &str) -> Result<v1::Job, tonic::Status> {
        let request = v1::RetryJobRequest {
            account_id: job.account_id.clone(),
            job_id: job.job_id.clone(),
            actor: actor.into(),
            reason: String::new(),
        };
        let response = self.client.clone().retry_job(request).await?.into_inner();
        response.job.ok_or_else(|| tonic::Status::internal("RetryJob answered without a job"))
    }

    /// The registry's `/metrics` lines named `name` (with their labels and value).
    pub async fn metric_lines(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let text = reqwest::get(format!("http://{}/metrics", self.ops_addr)).await?.text().await?;
        let prefix = format!("{name}{{");
        Ok(text.lines().filter(|line| line.starts_with(&prefix)).map(str::to_owned).collect())
    }

    /// The value of the registry's unlabelled metric `name`, if it is served.
    pub async fn metric_value(&self, name: &str) -> anyhow::Result<Option<f64>> {
        let text = reqwest::get(format!("http://{}/metrics", self.ops_addr)).await?.text().await?;
        let prefix = format!("{name} ");
        let line = text.lines().find_map(|line| line.strip_prefix(&prefix));
        Ok(line.map(str::parse).transpose()?)
    }

    /// The broker names under the registry's prefix.
    pub fn names(&self) -> Names {
        Names::new(self.settings.prefix.to_string())
    }

    /// Stops the registry, waits until it has stopped (failing if it failed), and
    /// deletes the test's event stream.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.context("the registry task panicked")??;
        }
        events::delete_stream(&self.nats, &self.names()).await?;
        Ok(())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A test that failed before `stop` still must not leave the server running.
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// A valid CreateJob request for a product upload.
pub fn create_request(account: &str, job_id: JobId, created_by: &str) -> CreateJobRequest {
    CreateJobRequest {
        job_id: job_id.to_string(),
        account_id: account.into(),
        job_type: v1::JobType::ProductUpload as i32,
        input_object_key: format!("uploads/{account}/{job_id}/input.csv"),
        original_file_name: "products.csv".into(),
        parameters_json: r#"{"client_id":"c-1","all_or_nothing":false}"#.into(),
        reference_ids: Some(v1::ReferenceIds {
            client_id: "c-1".into(),
            user_id: "u-7".into(),
            warehouse_id: String::new(),
        }),
        created_by: created_by.into(),
        notify: None,
    }
}
