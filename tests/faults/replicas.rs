//! Every service scaled out: two registry replicas and two consumers of each type run
//! throughout, sharing the registry's durable event consumer and the job queues,
//! while one replica of each (a process) is killed with SIGKILL and started again, or
//! rolled (a new one started, then SIGTERM to the old one), one after another,
//! during a stream of jobs of all three types. Deletions race an upload of their
//! client. The stall threshold stays at its default (300 s), so a job that ends on
//! an attempt above 1, or not within the bound, was rerun or stuck.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::JobStatus;
use bgjobs_domain::upload::results::thousands;
use bgjobs_e2e::invariants::{assert_all_final, assert_legal_transitions};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;

use crate::PRODUCT_UPLOAD;

const JOBS_REGISTRY: &str = env!("CARGO_BIN_EXE_e2e-jobs-registry");
const WAREHOUSE_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-warehouse-upload");
const DELETE_CLIENT: &str = env!("CARGO_BIN_EXE_e2e-delete-client");

/// Product uploads, each for a client of its own.
const PRODUCT_JOBS: usize = 6;
const PRODUCT_ROWS: u64 = 20_000;
/// Warehouse uploads, each for a warehouse of its own.
const WAREHOUSE_JOBS: usize = 3;
const LOCATION_ROWS: u64 = 3_000;
/// Clients uploaded and deleted at once.
const DELETED_CLIENTS: usize = 2;
/// The pause between two jobs submitted.
const SUBMIT_EVERY: Duration = Duration::from_millis(1_000);
/// The pause between two faults.
const FAULT_EVERY: Duration = Duration::from_millis(1_000);
/// How long every job may take to end, faults included: far below the stall
/// threshold, above the 30 s after which a killed registry's unacknowledged events
/// come back.
const FINISH_DEADLINE: Duration = Duration::from_secs(150);

/// A service replica run as a process, replaced again and again.
struct Replica {
    binary: &'static str,
    name: &'static str,
    generation: u32,
    process: ServiceProcess,
}

impl Replica {
    fn start(
        system: &TestSystem,
        binary: &'static str,
        name: &'static str,
    ) -> anyhow::Result<Self> {
        let process = Self::spawn(system, binary, name, 0)?;
        Ok(Self { binary, name, generation: 0, process })
    }

    fn spawn(
        system: &TestSystem,
        binary: &str,
        name: &str,
        generation: u32,
    ) -> anyhow::Result<ServiceProcess> {
        let worker = format!("{name}/replica-{generation}");
        ServiceProcess::start(Path::new(binary), system, &worker, "replicas", &[])
    }

    /// SIGKILL, then the same replica again, as Kubernetes restarts a crashed pod.
    fn kill_and_restart(&mut self, system: &TestSystem) -> anyhow::Result<()> {
        self.generation += 1;
        let next = Self::spawn(system, self.binary, self.name, self.generation)?;
        std::mem::replace(&mut self.process, next).kill()
    }

    /// A rollout: the new replica starts, then the old one gets SIGTERM and must exit
    /// by itself within its grace period.
    async fn roll(&mut self, system: &TestSystem) -> anyhow::Result<()> {
        self.generation += 1;
        let next = Self::spawn(system, self.binary, self.name, self.generation)?;
        let mut old = std::mem::replace(&mut self.process, next);
        old.terminate()?;
        let (status, _) = old.exited(Duration::from_secs(40)).await?;
        anyhow::ensure!(status.success(), "{} exited with {status} after SIGTERM", self.name);
        Ok(())
    }
}

#[tokio::test]
async fn every_service_scaled_out_and_rolled_under_a_stream_of_jobs_reruns_nothing()
-> anyhow::Result<()> {
    // Product upload runs only as processes; registry, ingest, warehouse upload and
    // delete client have one replica in the test's process, which stays up.
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let checked = check_replicas(&system).await;
    system.stop().await?;
    checked
}

async fn check_replicas(system: &TestSystem) -> anyhow::Result<()> {
    let started = Instant::now();
    let _steady_product_upload = Replica::start(system, PRODUCT_UPLOAD, "product-upload")?;
    let mut replicas = [
        Replica::start(system, JOBS_REGISTRY, "jobs-registry")?,
        Replica::start(system, PRODUCT_UPLOAD, "product-upload")?,
        Replica::start(system, WAREHOUSE_UPLOAD, "warehouse-upload")?,
        Replica::start(system, DELETE_CLIENT, "delete-client")?,
    ];

    let work = async {
        let jobs = submit_stream(system).await?;
        let ids: Vec<String> = jobs.iter().map(|job| job.id.clone()).collect();
        let finished = assert_all_final(system, &ids, FINISH_DEADLINE).await?;
        anyhow::Ok((jobs, finished))
    };
    tokio::pin!(work);
    let mut faults = 0_u32;
    let (jobs, finished) = loop {
        tokio::select! {
            done = &mut work => break done?,
            () = tokio::time::sleep(FAULT_EVERY) => {
                // Each replica in turn; a round of kills, then a round of rollouts.
                let (turn, round) = (faults as usize % replicas.len(), faults as usize / replicas.len());
                let replica = &mut replicas[turn];
                if round.is_multiple_of(2) {
                    replica.kill_and_restart(system)?;
                } else {
                    replica.roll(system).await?;
                }
                faults += 1;
            }
        }
    };
    let ended = started.elapsed();

    for (job, expected) in finished.iter().zip(&jobs) {
        let log = system.log(&job.job_id).await?;
        assert_legal_transitions(&log);
        let status = job_status_from_proto(job.status);
        let ended_as_expected = match &expected.end {
            End::Completed(message) => {
                status == Some(JobStatus::Completed) && job.message == *message
            }
            // An upload racing its client's deletion completes or is refused, depending
            // on which one gets to the client first.
            End::Raced { client, completed } => {
                (status == Some(JobStatus::Completed) && job.message == *completed)
                    || (status == Some(JobStatus::Error)
                        && job.message.starts_with(&format!("client '{client}' ")))
            }
            End::Deleted => {
                status == Some(JobStatus::Completed) && job.message.starts_with("Deleted ")
            }
        };
        anyhow::ensure!(
            ended_as_expected && job.attempt == 1,
            "{} job {} ended {:?} on attempt {}: {}",
            expected.kind,
            job.job_id,
            job.status(),
            job.attempt,
            job.message
        );
    }
    for client in uploaded_clients() {
        let products = system.store.catalog().count_products(&system.account, &client).await?;
        anyhow::ensure!(products == PRODUCT_ROWS, "client {client} has {products} products");
    }
    for client in deleted_clients() {
        let exists = system.store.catalog().client_exists(&system.account, &client).await?;
        let left = system.store.catalog().count_products(&system.account, &client).await?;
        anyhow::ensure!(!exists && left == 0, "client {client} is left, with {left} products");
    }
    eprintln!(
        "replicas: {} jobs completed on attempt 1 in {ended:?} through {faults} faults \
         (kills and rollouts of a registry, product-upload, warehouse-upload and delete-client \
         replica in turn)",
        jobs.len()
    );
    Ok(())
}

/// A submitted job and how it must end.
struct Expected {
    id: String,
    kind: &'static str,
    end: End,
}

/// How a job must end.
enum End {
    /// Completed, saying this.
    Completed(String),
    /// An upload racing the deletion of its client: completed (saying `completed`), or
    /// failed naming the client.
    Raced { client: String, completed: String },
    /// A deletion: completed, deleting whatever the upload racing it wrote.
    Deleted,
}

fn uploaded_clients() -> Vec<String> {
    (0..PRODUCT_JOBS).map(|index| format!("products-{index}")).collect()
}

fn deleted_clients() -> Vec<String> {
    (0..DELETED_CLIENTS).map(|index| format!("deleted-{index}")).collect()
}

/// Submits every job, interleaving the types: product uploads, warehouse uploads, and
/// for each deleted client an upload of its products followed at once by its deletion.
async fn submit_stream(system: &TestSystem) -> anyhow::Result<Vec<Expected>> {
    let (account, catalog) = (&system.account, system.store.catalog());
    let products = product_file(PRODUCT_ROWS, &[]);
    let imported = format!("{} of {0} rows imported, 0 rejected", thousands(PRODUCT_ROWS));
    let mut jobs = Vec::new();
    for (index, client) in uploaded_clients().into_iter().enumerate() {
        catalog.ensure_client(account, &client, &format!("Client {client}")).await?;
        tokio::time::sleep(SUBMIT_EVERY).await;
        let id = submit_products(system, &client, &products).await?;
        jobs.push(Expected { id, kind: "product upload", end: End::Completed(imported.clone()) });
        if index < WAREHOUSE_JOBS {
            let warehouse = format!("WH-{index}");
            catalog.ensure_warehouse(account, &warehouse, "Replicated").await?;
            let mut file = String::from(
                "warehouse,location_code,zone,aisle,bay,level,location_type,pickable,capacity\n",
            );
            for row in 1..=LOCATION_ROWS {
                file.push_str(&format!("{warehouse},L-{row:05},,,,,,,\n"));
            }
            tokio::time::sleep(SUBMIT_EVERY).await;
            let id = system.submit_locations_with(file, "").await?;
            let message = format!("{} of {0} rows imported, 0 rejected", thousands(LOCATION_ROWS));
            jobs.push(Expected { id, kind: "warehouse upload", end: End::Completed(message) });
        }
    }
    for client in deleted_clients() {
        catalog.ensure_client(account, &client, &format!("Client {client}")).await?;
        tokio::time::sleep(SUBMIT_EVERY).await;
        let id = submit_products(system, &client, &products).await?;
        let end = End::Raced { client: client.clone(), completed: imported.clone() };
        jobs.push(Expected { id, kind: "racing product upload", end });
        // Registered just after the upload, it deletes whatever the upload wrote.
        let id = system.submit_delete_client(&client, false).await?;
        jobs.push(Expected { id, kind: "deletion", end: End::Deleted });
    }
    Ok(jobs)
}

/// Uploads `file` for `client` through ingest; the job's id.
async fn submit_products(system: &TestSystem, client: &str, file: &str) -> anyhow::Result<String> {
    let url = format!(
        "{}/v1/accounts/{}/jobs/product-upload?client_id={client}&file_name={client}.csv",
        system.ingest_url, system.account
    );
    let response = system
        .http
        .post(url)
        .bearer_auth(system.user_token(None))
        .header("content-type", "text/csv")
        .body(file.to_owned())
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(status == reqwest::StatusCode::ACCEPTED, "ingest answered {status}: {body}");
    body["job_id"].as_str().map(str::to_owned).context("the answer has no job_id")
}
