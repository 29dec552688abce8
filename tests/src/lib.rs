//! The whole system in one test process: jobs-registry, ingest and the
//! product-upload, warehouse-upload and delete-client consumers started in-process
//! on free ports, against the real local stack, isolated by a fresh database, bucket
//! and queue/subject prefix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bgjobs_config::Load;
use bgjobs_config::sections::Database;
use bgjobs_database::Store;
use bgjobs_domain::AccountId;
use bgjobs_identity::{Service, policies};
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::ingest_client::IngestClient;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{GetJobRequest, Job, ListJobEventsRequest, ListJobsRequest, LogEntry};
use bgjobs_test_support::pki::{self, AsAllowed};
use bgjobs_test_support::{postgres, tokens, unique_suffix, wait};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use bgjobs_test_support::brokers;
pub mod invariants;
pub mod notifications;
pub mod private_stack;
pub mod process;
pub mod proxy;
pub mod supervisor;

/// A running system for one test; everything stops when it is dropped.
pub struct TestSystem {
    /// The account the test works in.
    pub account: AccountId,
    /// A client that exists in the account.
    pub client_id: String,
    /// The catalog and jobs database.
    pub store: Store,
    /// The test's bucket.
    pub objects: ObjectStore,
    /// A gRPC client of the registry, calling each method as an identity allowed to.
    pub registry: JobsRegistryClient<AsAllowed>,
    /// Base URL of ingest's HTTP API, e.g. `https://127.0.0.1:40123`.
    pub ingest_url: String,
    /// A gRPC client of ingest (Retry), calling as an identity allowed to.
    pub ingest: IngestClient<AsAllowed>,
    /// An HTTP client calling ingest's HTTP API as the gateway (the one identity that
    /// may start jobs), with the gateway's certificate.
    pub http: reqwest::Client,
    /// The delete-client consumer's processor, to drive single deliveries (the
    /// running consumer uses its own clone).
    pub delete_client: delete_client::Processor,
    names: bgjobs_messaging::Names,
    env: HashMap<&'static str, String>,
    registry_url: String,
    /// Where each in-process service serves its probes and metrics.
    ops: HashMap<Service, SocketAddr>,
    shutdown: CancellationToken,
}

/// How [`TestSystem::start_with`] starts the system.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Runs the product-upload consumer in-process; off when a test runs the real
    /// binary as a child process instead (see [`TestSystem::service_env`]).
    pub product_upload_in_process: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { product_upload_in_process: true }
    }
}

/// Where [`TestSystem::start_in`] runs the system: the broker, event server and
/// database server (the local stack's unless given; S3 is always the local stack's),
/// whether ingest runs in-process, and settings for every service.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// RabbitMQ, e.g. a [`private_stack::PrivateRabbit`]'s URL.
    pub amqp_url: Option<String>,
    /// NATS with JetStream, e.g. a [`private_stack::PrivateNats`]'s URL.
    pub nats_url: Option<String>,
    /// A Postgres server URL without a database name (the test's database is created
    /// there), e.g. a [`private_stack::PrivatePostgres`]'s server URL.
    pub postgres_server_url: Option<String>,
    /// Leaves ingest to the test, which runs it as a process (see
    /// [`supervisor::Supervisor`]) on the ports [`TestSystem::service_env`] names.
    pub ingest_as_process: bool,
    /// Leaves the registry to the test, which runs its replicas as processes on the
    /// gRPC address [`TestSystem::service_env`] names (`BGJOBS_REGISTRY_GRPC_ADDR`);
    /// the system only applies the migrations.
    pub registry_as_process: bool,
    /// Runs no delete-client consumer in-process: the test starts its own as processes
    /// (until then, Delete Client jobs stay queued). [`TestSystem::delete_client`] can
    /// still handle a message directly.
    pub delete_client_as_process: bool,
    /// More variables for every service, e.g. `BGJOBS_STALL_THRESHOLD_SECS`.
    pub settings: Vec<(&'static str, String)>,
}

impl TestSystem {
    /// Starts every service and creates the account's client.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts the services `options` asks for and creates the account's client.
    pub async fn start_with(options: Options) -> anyhow::Result<Self> {
        Self::start_in(options, Environment::default()).await
    }

    /// Starts the services `options` asks for in `environment` and creates the
    /// account's client.
    pub async fn start_in(options: Options, environment: Environment) -> anyhow::Result<Self> {
        let suffix = unique_suffix();
        let database_url = match &environment.postgres_server_url {
            Some(server) => postgres::fresh_database_on(server).await?,
            None => postgres::fresh_database().await?,
        };
        let amqp_url = environment
            .amqp_url
            .clone()
            .unwrap_or_else(|| bgjobs_messaging::amqp::DEFAULT_URL.to_owned());
        let nats_url =
            environment.nats_url.clone().unwrap_or_else(|| brokers::NATS_ADMIN_URL.to_owned());
        let mut env: HashMap<&str, String> = HashMap::from([
            ("BGJOBS_DATABASE_URL", database_url),
            ("BGJOBS_AMQP_URL", amqp_url),
            ("BGJOBS_NATS_URL", nats_url),
            ("BGJOBS_PREFIX", format!("t{suffix}.")),
            ("BGJOBS_S3_BUCKET", format!("bgjobs-t-{suffix}")),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("BGJOBS_INGEST_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("BGJOBS_INGEST_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            // The name the registry's NATS user may use; the stream is the run's own.
            ("BGJOBS_REGISTRY_CONSUMER", "jobs-registry".to_owned()),
            ("BGJOBS_BATCH_SIZE", "100".to_owned()),
            ("BGJOBS_PROGRESS_INTERVAL_MS", "100".to_owned()),
            ("BGJOBS_WORKER_ID", format!("product-upload/test-{suffix}")),
            // The services' probes and metrics, each on a port of its own.
            ("BGJOBS_OPS_ADDR", "127.0.0.1:0".to_owned()),
        ]);
        let mut ops = HashMap::new();
        // Ingest and the gateway trust the tests' identity provider (`tokens`).
        env.extend(tokens::env());
        env.extend(environment.settings.iter().cloned());
        let shutdown = CancellationToken::new();

        let registry_settings =
            jobs_registry::Settings::load(&as_service(&env, Service::JobsRegistry))
                .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let registry_url = if environment.registry_as_process {
            // The test runs the replicas; the schema must be there before it returns.
            jobs_registry::migrate(&registry_settings).await?;
            let grpc_addr = format!("127.0.0.1:{}", private_stack::free_port()?);
            env.insert("BGJOBS_REGISTRY_GRPC_ADDR", grpc_addr.clone());
            format!("https://{grpc_addr}")
        } else {
            let registry_app = jobs_registry::Application::build(registry_settings).await?;
            ops.extend(registry_app.ops_addr().map(|addr| (Service::JobsRegistry, addr)));
            let url = format!("https://{}", registry_app.grpc_addr());
            tokio::spawn(registry_app.run_until_stopped(shutdown.clone().cancelled_owned()));
            url
        };
        env.insert("BGJOBS_REGISTRY_URL", registry_url.clone());

        let (ingest_url, ingest_grpc_url) = if environment.ingest_as_process {
            let http_addr = format!("127.0.0.1:{}", private_stack::free_port()?);
            let grpc_addr = format!("127.0.0.1:{}", private_stack::free_port()?);
            let urls = (format!("https://{http_addr}"), format!("https://{grpc_addr}"));
            env.insert("BGJOBS_INGEST_HTTP_ADDR", http_addr);
            env.insert("BGJOBS_INGEST_GRPC_ADDR", grpc_addr);
            urls
        } else {
            let ingest_settings = ingest::Settings::load(&as_service(&env, Service::Ingest))
                .map_err(|error| anyhow::anyhow!("{error:?}"))?;
            let ingest_app = ingest::Application::build(ingest_settings).await?;
            ops.extend(ingest_app.ops_addr().map(|addr| (Service::Ingest, addr)));
            let urls = (
                format!("https://{}", ingest_app.local_addr()),
                format!("https://{}", ingest_app.grpc_addr()),
            );
            tokio::spawn(ingest_app.run_until_stopped(shutdown.clone().cancelled_owned()));
            urls
        };
        env.insert("BGJOBS_INGEST_GRPC_URL", ingest_grpc_url.clone());

        if options.product_upload_in_process {
            let product_upload_env = with_broker_users(&env, Service::ProductUpload);
            let worker_settings =
                product_upload::settings::load(&bgjobs_config::Environment::from_lookup(|name| {
                    product_upload_env.get(name).cloned()
                }))?;
            let worker = product_upload::Worker::build(worker_settings).await?;
            ops.extend(worker.ops_addr().map(|addr| (Service::ProductUpload, addr)));
            tokio::spawn(worker.run_until_stopped(shutdown.clone().cancelled_owned()));
        }

        let warehouse_env = with_broker_users(&env, Service::WarehouseUpload);
        let warehouse_settings =
            warehouse_upload::settings::load(&bgjobs_config::Environment::from_lookup(|name| {
                match name {
                    "BGJOBS_WORKER_ID" => Some(format!("warehouse-upload/test-{suffix}")),
                    _ => warehouse_env.get(name).cloned(),
                }
            }))?;
        let warehouse_worker = warehouse_upload::Worker::build(warehouse_settings).await?;
        ops.extend(warehouse_worker.ops_addr().map(|addr| (Service::WarehouseUpload, addr)));
        tokio::spawn(warehouse_worker.run_until_stopped(shutdown.clone().cancelled_owned()));

        let delete_client_env = with_broker_users(&env, Service::DeleteClient);
        let delete_client_settings = delete_client::Settings::load(
            &bgjobs_config::Environment::from_lookup(|name| match name {
                "BGJOBS_WORKER_ID" => Some(format!("delete-client/test-{suffix}")),
                _ => delete_client_env.get(name).cloned(),
            }),
        )?;
        let delete_client_worker = delete_client::Worker::build(delete_client_settings).await?;
        let delete_client = delete_client_worker.processor().clone();
        if !environment.delete_client_as_process {
            ops.extend(delete_client_worker.ops_addr().map(|addr| (Service::DeleteClient, addr)));
            tokio::spawn(
                delete_client_worker.run_until_stopped(shutdown.clone().cancelled_owned()),
            );
        }

        let database = Database::load(&bgjobs_config::Environment::from_lookup(|name| {
            env.get(name).cloned()
        }))?;
        let store = Store::connect_with(database.url.expose(), &(&database).into()).await?;
        let account = AccountId::parse(&format!("acct-{suffix}"))?;
        let client_id = "acme".to_owned();
        store.catalog().ensure_client(&account, &client_id, "ACME Corp").await?;
        let storage_settings =
            bgjobs_object_store::Settings::load(&bgjobs_config::Environment::from_lookup(
                |name| env.get(name).cloned().or_else(|| std::env::var(name).ok()),
            ))?;
        let objects = ObjectStore::connect(&storage_settings).await?;
        // Lazily: a registry or ingest run as a process may not be up yet.
        let registry = JobsRegistryClient::new(AsAllowed::new(&registry_url, &policies::REGISTRY));
        let ingest = IngestClient::new(AsAllowed::new(&ingest_grpc_url, &policies::INGEST));
        Ok(Self {
            account,
            client_id,
            store,
            objects,
            registry,
            ingest_url,
            ingest,
            http: pki::ingest_http(Service::Gateway),
            delete_client,
            names: bgjobs_messaging::Names::new(env["BGJOBS_PREFIX"].clone()),
            env,
            registry_url,
            ops,
            shutdown,
        })
    }

    /// Where the in-process service `service` serves `/healthz`, `/readyz` and
    /// `/metrics`.
    pub fn ops_addr(&self, service: Service) -> anyhow::Result<SocketAddr> {
        self.ops
            .get(&service)
            .copied()
            .ok_or_else(|| anyhow::anyhow!("{service:?} does not run in-process in this test"))
    }

    /// The variables the in-process services were started with (database, bucket,
    /// prefix, registry...), to start a service binary against the same system. The
    /// broker URLs sign in as each broker's admin (what the harness's helpers use);
    /// [`process::ServiceProcess`] makes a service binary sign in as its own user.
    pub fn service_env(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.env.iter().map(|(name, value)| (*name, value.as_str()))
    }

    /// A client of the registry calling as `caller`, for what takes a plain channel
    /// (jobsctl's replay).
    pub fn registry_as(&self, caller: Service) -> JobsRegistryClient<Channel> {
        JobsRegistryClient::new(pki::channel(&self.registry_url, Service::JobsRegistry, caller))
    }

    /// A client of ingest's gRPC API calling as `caller` (jobsctl's retry).
    pub fn ingest_as(&self, caller: Service) -> IngestClient<Channel> {
        let url = &self.env["BGJOBS_INGEST_GRPC_URL"];
        IngestClient::new(pki::channel(url, Service::Ingest, caller))
    }

    /// The value of `name` among the variables the services were started with.
    pub fn env_value(&self, name: &str) -> String {
        self.env.get(name).cloned().unwrap_or_default()
    }

    /// The names of the system's queues, exchanges and stream (its prefix).
    pub fn names(&self) -> &bgjobs_messaging::Names {
        &self.names
    }

    /// Posts `body` as a product file for the test's client; returns the HTTP response.
    pub async fn upload_products(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<reqwest::Response> {
        self.upload_products_with(body, "").await
    }

    /// Like [`Self::upload_products`], with `extra_query` (e.g. `&mode=all-or-nothing`) appended.
    pub async fn upload_products_with(
        &self,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<reqwest::Response> {
        self.upload_products_as(&self.user_token(None), body, extra_query).await
    }

    /// A token of the user `tester` of the system's account, who may start jobs, with
    /// `email` (who is emailed about the jobs they start) when given.
    pub fn user_token(&self, email: Option<&str>) -> String {
        let mut claims = tokens::claims(
            self.account.as_str(),
            "tester",
            &[bgjobs_auth::VIEW_ROLE, bgjobs_auth::RETRY_ROLE],
        );
        claims.email = email.map(str::to_owned);
        tokens::sign(&claims)
    }

    /// Like [`Self::upload_products_with`], as the user of `token`.
    pub async fn upload_products_as(
        &self,
        token: &str,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<reqwest::Response> {
        self.upload_products_for(token, &self.client_id, body, extra_query).await
    }

    /// Like [`Self::submit_products`], for another client of the account.
    pub async fn submit_products_for(
        &self,
        client_id: &str,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<String> {
        let response =
            self.upload_products_for(&self.user_token(None), client_id, body, "").await?;
        accepted_job_id(response).await
    }

    async fn upload_products_for(
        &self,
        token: &str,
        client_id: &str,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!(
            "{}/v1/accounts/{}/jobs/product-upload?client_id={client_id}&file_name=products.csv{extra_query}",
            self.ingest_url, self.account
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .context("posting the upload to ingest")?;
        Ok(response)
    }

    /// Uploads `body` and returns the new job's id, failing unless ingest answers 202.
    pub async fn submit_products(&self, body: impl Into<reqwest::Body>) -> anyhow::Result<String> {
        self.submit_products_with(body, "").await
    }

    /// Like [`Self::submit_products`], with `extra_query` appended to the upload URL.
    pub async fn submit_products_with(
        &self,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<String> {
        let response = self.upload_products_with(body, extra_query).await?;
        accepted_job_id(response).await
    }

    /// Like [`Self::submit_products_with`], as the user of `token`.
    pub async fn submit_products_as(
        &self,
        token: &str,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<String> {
        let response = self.upload_products_as(token, body, extra_query).await?;
        accepted_job_id(response).await
    }

    /// Posts a Delete Client request for `client_id`, with `extra_query` (e.g.
    /// `&dry_run=true`) appended; returns the HTTP response. Unless `extra_query` asks
    /// for a dry run or types a name itself, the deletion is confirmed as a user
    /// confirms it: with the client's name as the catalogue holds it (its id when there
    /// is no such client).
    pub async fn request_delete_client(
        &self,
        client_id: &str,
        extra_query: &str,
    ) -> anyhow::Result<reqwest::Response> {
        self.request_delete_client_as(&self.user_token(None), client_id, extra_query).await
    }

    /// Like [`Self::request_delete_client`], as the user of `token`.
    pub async fn request_delete_client_as(
        &self,
        token: &str,
        client_id: &str,
        extra_query: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!(
            "{}/v1/accounts/{}/jobs/delete-client?client_id={client_id}{extra_query}",
            self.ingest_url, self.account
        );
        let mut request = self.http.post(url).bearer_auth(token);
        if !extra_query.contains("dry_run=true") && !extra_query.contains("confirm_name=") {
            let name = self.store.catalog().client_name(&self.account, client_id).await?;
            let typed = name.unwrap_or_else(|| client_id.to_owned());
            request = request.query(&[("confirm_name", typed)]);
        }
        let response = request.send().await.context("posting the deletion to ingest")?;
        Ok(response)
    }

    /// Requests the deletion of `client_id` (a dry run if `dry_run`) and returns the
    /// new job's id, failing unless ingest answers 202.
    pub async fn submit_delete_client(
        &self,
        client_id: &str,
        dry_run: bool,
    ) -> anyhow::Result<String> {
        let extra_query = if dry_run { "&dry_run=true" } else { "" };
        let response = self.request_delete_client(client_id, extra_query).await?;
        accepted_job_id(response).await
    }

    /// Posts `body` as a warehouse locations file, with `extra_query` (e.g.
    /// `&mode=all-or-nothing`) appended; returns the HTTP response.
    pub async fn upload_locations_with(
        &self,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!(
            "{}/v1/accounts/{}/jobs/warehouse-upload?file_name=locations.csv{extra_query}",
            self.ingest_url, self.account
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(self.user_token(None))
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .context("posting the warehouse upload to ingest")?;
        Ok(response)
    }

    /// Uploads a warehouse locations file (with `extra_query` appended to the URL) and
    /// returns the new job's id, failing unless ingest answers 202.
    pub async fn submit_locations_with(
        &self,
        body: impl Into<reqwest::Body>,
        extra_query: &str,
    ) -> anyhow::Result<String> {
        let response = self.upload_locations_with(body, extra_query).await?;
        accepted_job_id(response).await
    }

    /// The job as the registry has it.
    pub async fn job(&self, job_id: &str) -> anyhow::Result<Job> {
        let request =
            GetJobRequest { account_id: self.account.to_string(), job_id: job_id.to_owned() };
        let response = self.registry.clone().get_job(request).await?.into_inner();
        response.job.context("GetJob answered without a job")
    }

    /// The job's message log.
    pub async fn log(&self, job_id: &str) -> anyhow::Result<Vec<LogEntry>> {
        let request = ListJobEventsRequest {
            account_id: self.account.to_string(),
            job_id: job_id.to_owned(),
        };
        Ok(self.registry.clone().list_job_events(request).await?.into_inner().entries)
    }

    /// The account's jobs, newest first (the first page).
    pub async fn jobs(&self) -> anyhow::Result<Vec<Job>> {
        let request =
            ListJobsRequest { account_id: self.account.to_string(), ..Default::default() };
        Ok(self.registry.clone().list_jobs(request).await?.into_inner().jobs)
    }

    /// Messages waiting in the dead-letter queue of `job_type`.
    pub async fn dead_lettered(&self, job_type: bgjobs_domain::JobType) -> anyhow::Result<u32> {
        let connection = bgjobs_messaging::amqp::connect(&self.env["BGJOBS_AMQP_URL"]).await?;
        let queue = self.names.dead_letter_queue(job_type);
        Ok(bgjobs_messaging::amqp::queue_depth(&connection, &queue).await?)
    }

    /// The finished job's results file, as text.
    pub async fn results_text(&self, job: &Job) -> anyhow::Result<String> {
        anyhow::ensure!(
            !job.result_object_key.is_empty(),
            "job {} has no results file",
            job.job_id
        );
        let bytes = self.objects.get_bytes(&job.result_object_key).await?;
        Ok(String::from_utf8(bytes.to_vec())?)
    }

    /// The finished job's results file as records (header first), each cell as a
    /// spreadsheet would read it.
    pub async fn results_records(&self, job: &Job) -> anyhow::Result<Vec<Vec<String>>> {
        let text = self.results_text(job).await?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        let mut records = Vec::new();
        for record in reader.records() {
            records.push(record?.iter().map(str::to_owned).collect());
        }
        Ok(records)
    }

    /// Waits until the job is Completed or Error and returns it.
    pub async fn finished_job(&self, job_id: &str, deadline: Duration) -> anyhow::Result<Job> {
        let what = format!("job {job_id} to finish");
        wait::until(&what, deadline, || async {
            let job = self.job(job_id).await?;
            let finished = bgjobs_proto::convert::job_status_from_proto(job.status)
                .is_some_and(bgjobs_domain::JobStatus::is_terminal);
            Ok(finished.then_some(job))
        })
        .await
    }
}

impl TestSystem {
    /// Stops the services and removes the test's queues, exchanges and stream, so a
    /// long series of test runs does not pile up quorum queues on the shared broker.
    /// (The database and bucket stay for inspection; `deploy/stack.sh clean` drops them.)
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let connection = bgjobs_messaging::amqp::connect(&self.env["BGJOBS_AMQP_URL"]).await?;
        bgjobs_messaging::amqp::delete_topology(&connection, &self.names).await?;
        let nats = bgjobs_messaging::events::connect(&self.env["BGJOBS_NATS_URL"]).await?;
        bgjobs_messaging::events::delete_stream(&nats, &self.names).await?;
        Ok(())
    }
}

/// The message of `job`'s current attempt, field for field what ingest publishes.
pub fn job_message(job: &Job) -> bgjobs_proto::v1::JobMessage {
    bgjobs_proto::v1::JobMessage {
        job_id: job.job_id.clone(),
        account_id: job.account_id.clone(),
        job_type: job.job_type,
        attempt: job.attempt,
        input_object_key: job.input_object_key.clone(),
        parameters_json: job.parameters_json.clone(),
        reference_ids: job.reference_ids.clone(),
        created_by: job.created_by.clone(),
    }
}

/// The job id of ingest's answer, failing unless it is 202 Accepted.
async fn accepted_job_id(response: reqwest::Response) -> anyhow::Result<String> {
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status == reqwest::StatusCode::ACCEPTED, "ingest answered {status}: {text}");
    let body: serde_json::Value = serde_json::from_str(&text)?;
    body["job_id"].as_str().map(str::to_owned).context("the answer has no job_id")
}

impl Drop for TestSystem {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The variables of `env`, with the certificate and broker users of `service`.
fn as_service(
    env: &HashMap<&'static str, String>,
    service: Service,
) -> bgjobs_config::Environment<'static> {
    let mut env = with_broker_users(env, service);
    env.extend(pki::tls_env(service));
    bgjobs_config::Environment::from_lookup(move |name| env.get(name).cloned())
}

/// The variables of `env`, signing in to the brokers as `service`'s own users.
fn with_broker_users(
    env: &HashMap<&'static str, String>,
    service: Service,
) -> HashMap<&'static str, String> {
    let mut env = env.clone();
    let urls = brokers::service_urls(|name| env.get(name).cloned(), service);
    env.extend(urls);
    env
}
