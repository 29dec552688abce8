//! The system under measurement: the release binaries of the registry, ingest, the
//! product-upload and delete-client consumers, the notifier and the gateway, each a
//! process of its own (so its CPU and memory are its own), with their default
//! settings, against a fresh database, bucket and prefix. Jobs are started and
//! followed through the gateway's API, as the page does.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_e2e::private_stack::free_port;
use bgjobs_e2e::process::ServiceProcess;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_identity::Service;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_test_support::{pki, wait};
use sea_orm::{ConnectionTrait, Database};

use crate::baseline::psql;

/// The services the benchmark runs, in the order they start.
pub const SERVICES: [&str; 6] =
    ["jobs-registry", "ingest", "product-upload", "delete-client", "notifier", "gateway"];

/// The local stack's SMTP server (`deploy/stack.sh up`), which keeps what it receives.
const STACK_SMTP: &str = "smtp://127.0.0.1:2525";

/// Variables the test harness sets so tests finish quickly; the benchmark leaves them
/// at their defaults (and gives each service its own operations port and worker id).
const TEST_SETTINGS: [&str; 4] =
    ["BGJOBS_BATCH_SIZE", "BGJOBS_PROGRESS_INTERVAL_MS", "BGJOBS_OPS_ADDR", "BGJOBS_WORKER_ID"];

/// How long one job may take before the benchmark gives up on it.
const JOB_DEADLINE: Duration = Duration::from_secs(1800);

/// What became of an upload's rows, from the consumer's checkpoint of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

/// A running service process.
struct Running {
    name: &'static str,
    process: ServiceProcess,
}

/// One fresh system of service processes.
pub struct BenchSystem {
    system: TestSystem,
    running: Vec<Running>,
    /// The gateway's API, e.g. `http://127.0.0.1:40123/api/v1`.
    api: String,
    /// The bearer token of the user who starts and follows the jobs (with an address,
    /// so the notifier emails them).
    token: String,
    http: reqwest::Client,
}

impl BenchSystem {
    /// Starts the [`SERVICES`] from the binaries in `binaries`, each once ready.
    pub async fn start(binaries: &Path) -> anyhow::Result<Self> {
        let environment = Environment {
            ingest_as_process: true,
            registry_as_process: true,
            delete_client_as_process: true,
            ..Environment::default()
        };
        let options = Options { product_upload_in_process: false };
        let system = TestSystem::start_in(options, environment).await?;
        let base: Vec<(String, String)> = system
            .service_env()
            .filter(|(name, _)| !TEST_SETTINGS.contains(name))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let gateway = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut running = Vec::new();
        for name in SERVICES {
            let ops = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let mut env = base.clone();
            env.push(("BGJOBS_OPS_ADDR".to_owned(), ops.to_string()));
            match name {
                "notifier" => env.push(("BGJOBS_SMTP_URL".to_owned(), STACK_SMTP.to_owned())),
                "gateway" => env.extend([
                    ("BGJOBS_GATEWAY_HTTP_ADDR".to_owned(), gateway.to_string()),
                    ("BGJOBS_INGEST_URL".to_owned(), system.ingest_url.clone()),
                ]),
                _ => {}
            }
            let binary = binaries.join(name);
            anyhow::ensure!(binary.exists(), "{} is not built", binary.display());
            let process = ServiceProcess::start_with_env(
                &binary,
                &env,
                &format!("{name}/bench"),
                &format!("bench-{name}"),
            )?;
            ready(ops, name).await?;
            running.push(Running { name, process });
        }
        let token = system.user_token(Some("bench@example.com"));
        let api = format!("http://{gateway}/api/v1");
        Ok(Self { system, running, api, token, http: reqwest::Client::new() })
    }

    /// The process ids of the services, by name.
    pub fn pids(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.running.iter().map(|running| (running.name, running.process.id()))
    }

    /// The value of the system's setting `name`, empty when it leaves it unset.
    pub fn env_value(&self, name: &str) -> String {
        self.system.env_value(name)
    }

    /// The broker the system uses.
    pub fn amqp_url(&self) -> String {
        self.system.env_value("BGJOBS_AMQP_URL")
    }

    /// Posts small uploads as the benchmark's user for `client_id` of the user's
    /// account; cloned for concurrent users.
    pub fn uploader(&self, client_id: &str) -> Uploader {
        Uploader {
            http: self.http.clone(),
            api: self.api.clone(),
            token: self.token.clone(),
            client_id: client_id.to_owned(),
        }
    }

    /// Adds the client `client_id` to the account's catalogue.
    pub async fn add_client(&self, client_id: &str) -> anyhow::Result<()> {
        let (account, catalog) = (&self.system.account, self.system.store.catalog());
        catalog.ensure_client(account, client_id, client_id).await?;
        Ok(())
    }

    /// The pid of the service `name`.
    pub fn pid(&self, name: &str) -> anyhow::Result<u32> {
        let mut pids = self.pids().filter(|(running, _)| *running == name);
        pids.next().map(|(_, pid)| pid).with_context(|| format!("{name} is not running"))
    }

    /// The account of the benchmark's user.
    pub fn account(&self) -> String {
        self.system.account.to_string()
    }

    /// Asks the gateway's API for the first page of the user's jobs with the filters
    /// in `query`, as the page does; returns how many jobs the page holds.
    pub async fn list_jobs(&self, query: &str) -> anyhow::Result<usize> {
        let url = format!("{}/jobs?{query}", self.api);
        let response = self.http.get(url).bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(status == 200, "listing jobs ({query}) answered {status}: {body}");
        Ok(body["jobs"].as_array().map_or(0, Vec::len))
    }

    /// A client of the registry, with the gateway's credentials.
    pub async fn registry_client(
        &self,
    ) -> anyhow::Result<JobsRegistryClient<tonic::transport::Channel>> {
        let url = self.system.env_value("BGJOBS_REGISTRY_URL");
        let endpoint = pki::credentials(Service::Gateway).endpoint(&url, Service::JobsRegistry)?;
        Ok(JobsRegistryClient::new(endpoint.connect().await?))
    }

    /// The URL of the system's database.
    pub fn database_url(&self) -> String {
        self.system.env_value("BGJOBS_DATABASE_URL")
    }

    /// Uploads `file` through the gateway's API as a user does on the page and follows
    /// the job there until it is Completed; returns what became of its rows and the
    /// time from the upload's first byte until the API shows Completed.
    pub async fn import(&self, file: &Path) -> anyhow::Result<(Outcome, Duration)> {
        self.import_for(&self.system.client_id, file).await
    }

    /// Like [`Self::import`], for the client `client_id` of the account.
    pub async fn import_for(
        &self,
        client_id: &str,
        file: &Path,
    ) -> anyhow::Result<(Outcome, Duration)> {
        let started = Instant::now();
        let opened = tokio::fs::File::open(file).await?;
        let chunks = tokio_util::io::ReaderStream::with_capacity(opened, 256 * 1024);
        let query = format!("client_id={client_id}&file_name=products.csv");
        let upload = self
            .start_job("product-upload", &query)
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(chunks));
        let job_id = self.accepted(upload).await?;
        let stored = started.elapsed();
        self.follow(&job_id).await?;
        let elapsed = started.elapsed();
        eprintln!(
            "{}: upload stored and accepted after {:.1} s, Completed after {:.1} s",
            file.display(),
            stored.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        Ok((self.outcome(&job_id).await?, elapsed))
    }

    /// Deletes the client's data through the gateway's API as a user does on the page
    /// (its name typed to confirm) and follows the job until it is Completed; returns
    /// the time from the request until the API shows Completed, once no product of the
    /// client is left.
    pub async fn delete_client(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let query = format!("client_id={}&confirm_name=ACME%20Corp", self.system.client_id);
        self.completed(self.start_job("delete-client", &query)).await?;
        let elapsed = started.elapsed();
        let count = format!(
            "COPY (SELECT count(*) FROM catalog.products WHERE client_id = '{}') TO STDOUT;",
            self.system.client_id
        );
        let (left, _) = psql(&self.database_url(), &count).await?;
        anyhow::ensure!(left.trim() == "0", "{} products left after the deletion", left.trim());
        Ok(elapsed)
    }

    /// A request starting a job of `job_type` with `query`, as the benchmark's user.
    fn start_job(&self, job_type: &str, query: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/jobs/{job_type}?{query}", self.api);
        self.http.post(url).bearer_auth(&self.token)
    }

    /// Sends `start`, then follows the job it started through the API until it ends;
    /// returns its id once it is Completed.
    async fn completed(&self, start: reqwest::RequestBuilder) -> anyhow::Result<String> {
        let job_id = self.accepted(start).await?;
        self.follow(&job_id).await?;
        Ok(job_id)
    }

    /// Sends `start` and returns the id of the job the gateway accepted.
    async fn accepted(&self, start: reqwest::RequestBuilder) -> anyhow::Result<String> {
        let response = start.send().await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(status == 202, "the gateway answered {status}: {body}");
        Ok(body["job_id"].as_str().context("no job_id")?.to_owned())
    }

    /// The job as the page's API shows it.
    async fn job(&self, job_id: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/jobs/{job_id}", self.api);
        let details: serde_json::Value =
            self.http.get(&url).bearer_auth(&self.token).send().await?.json().await?;
        Ok(details["job"].clone())
    }

    /// Follows the job through the API until it ends; fails unless it is Completed.
    async fn follow(&self, job_id: &str) -> anyhow::Result<()> {
        let job = wait::until(&format!("job {job_id} to finish"), JOB_DEADLINE, || async {
            let job = self.job(job_id).await?;
            let finished = matches!(job["status"].as_str(), Some("completed" | "error"));
            Ok(finished.then_some(job))
        })
        .await?;
        anyhow::ensure!(job["status"] == "completed", "job {job_id} failed: {job}");
        Ok(())
    }

    /// Uploads the small product file `csv` on an idle system and returns the time from
    /// the gateway's answer (the upload accepted) until its API first shows the job
    /// past New, reading it every 2 ms; then waits for the job to complete, so that the
    /// next one starts on an idle system again.
    pub async fn time_to_start(&self, csv: String) -> anyhow::Result<Duration> {
        let query = format!("client_id={}&file_name=small.csv", self.system.client_id);
        let upload =
            self.start_job("product-upload", &query).header("content-type", "text/csv").body(csv);
        let job_id = self.accepted(upload).await?;
        let accepted = Instant::now();
        let deadline = accepted + Duration::from_secs(60);
        let started = loop {
            if self.job(&job_id).await?["status"] != "new" {
                break accepted.elapsed();
            }
            anyhow::ensure!(Instant::now() < deadline, "job {job_id} still New after 60 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        self.follow(&job_id).await?;
        Ok(started)
    }

    /// The consumer's counts of the job's rows.
    async fn outcome(&self, job_id: &str) -> anyhow::Result<Outcome> {
        let query = format!(
            "COPY (SELECT rows_created, rows_updated, rows_unchanged, rows_rejected \
             FROM catalog.job_checkpoints WHERE job_id = '{job_id}') TO STDOUT;"
        );
        let (output, _) = psql(&self.database_url(), &query).await?;
        let counts: Vec<u64> =
            output.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
        let [created, updated, unchanged, rejected] = counts[..] else {
            anyhow::bail!("no checkpoint of job {job_id}: {output:?}");
        };
        Ok(Outcome { created, updated, unchanged, rejected })
    }

    /// Stops the services (SIGTERM, as Kubernetes does), removes the system's queues
    /// and stream, and drops its database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let url = self.database_url();
        for running in self.running.iter().rev() {
            running.process.terminate()?;
        }
        for mut running in self.running {
            let exited = running.process.exited(Duration::from_secs(60)).await;
            exited.with_context(|| format!("{} did not stop", running.name))?;
        }
        self.system.stop().await?;
        let (server, name) = url.rsplit_once('/').context("a database URL")?;
        let admin = Database::connect(format!("{server}/postgres")).await?;
        admin.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await?;
        Ok(())
    }
}

/// Posts product files through the gateway's API as the benchmark's user.
#[derive(Clone)]
pub struct Uploader {
    http: reqwest::Client,
    api: String,
    token: String,
    client_id: String,
}

impl Uploader {
    /// Posts the product file `csv`; returns the id of the job the gateway accepted.
    pub async fn submit(&self, csv: String) -> anyhow::Result<String> {
        let url = format!(
            "{}/jobs/product-upload?client_id={}&file_name=small.csv",
            self.api, self.client_id
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(status == 202, "the gateway answered {status}: {body}");
        Ok(body["job_id"].as_str().context("no job_id")?.to_owned())
    }
}

/// Waits until the service `name` answers `/readyz` at `ops` with 200.
async fn ready(ops: SocketAddr, name: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("http://{ops}/readyz");
    wait::until(&format!("{name} to be ready"), Duration::from_secs(60), || async {
        let answer = http.get(&url).send().await;
        Ok(answer.ok().filter(|answer| answer.status() == 200).map(|_| ()))
    })
    .await
}
