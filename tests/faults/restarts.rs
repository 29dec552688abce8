//! Scenario 2: a dependency restarts in the middle of an upload — RabbitMQ, NATS or
//! Postgres, one per test. Each runs as a private server of the test (the shared stack
//! is never restarted). Ingest and the product-upload consumer run as processes under
//! a supervisor that restarts them when they exit or fail their liveness probe, as
//! Kubernetes does; the registry runs in-process and must ride the restart out.
//! What each service does when a dependency goes away is in docs/decisions.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::{JobId, JobStatus, JobType};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::private_stack::{PrivateNats, PrivatePostgres, PrivateRabbit, Restartable};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::supervisor::Supervisor;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

use crate::PRODUCT_UPLOAD;

const ROWS: u64 = 20_000;
const BAD_ROWS: [u64; 2] = [3, 15_001];
/// Rows per batch: small enough that the restart lands between many commits.
const BATCH_ROWS: &str = "200";
/// How long a restarted server stays down: longer than a client's first reconnect
/// attempts, as a real restart (a pod rescheduled) would be.
const OUTAGE: Duration = Duration::from_secs(3);
/// The stall threshold of the long-outage scenarios: shortened, yet above the
/// registry's longest pause between tries of an event (10 s) and the consumers'
/// longest retry delay there ([`long_outage_settings`]).
const SHORT_STALL_THRESHOLD: Duration = Duration::from_secs(15);
/// A long outage: longer than [`SHORT_STALL_THRESHOLD`], so that every running job
/// looks silent for longer than the threshold once the server is back.
const LONG_OUTAGE: Duration = Duration::from_secs(20);
/// A second client, whose smaller upload is submitted while the dependency restarts.
const OTHER_CLIENT: &str = "beta";
const OTHER_ROWS: u64 = 2_000;
/// How long the upload may take, restart included.
const FINISH_DEADLINE: Duration = Duration::from_secs(180);

/// This package's copy of the ingest binary (see `tests/bin`).
const INGEST: &str = env!("CARGO_BIN_EXE_e2e-ingest");

#[tokio::test]
async fn a_rabbitmq_restart_mid_upload_loses_nothing_and_applies_every_row_once()
-> anyhow::Result<()> {
    let (rabbit, took) = PrivateRabbit::start().await?;
    eprintln!("restart rabbitmq: the private node started in {took:?}");
    let environment = Environment {
        amqp_url: Some(rabbit.url()),
        ingest_as_process: true,
        settings: quick_republishing(),
        ..Environment::default()
    };
    // A job message unacked when the broker went down comes back after the restart:
    // wait for it to be settled too.
    let settled = async |system: &TestSystem| {
        Ok(rabbit.messages(&system.names().queue(JobType::ProductUpload)).await? == 0)
    };
    upload_through_a_restart("restart rabbitmq", environment, &rabbit, OUTAGE, settled).await
}

#[tokio::test]
async fn a_nats_restart_mid_upload_loses_nothing_and_applies_every_row_once() -> anyhow::Result<()>
{
    let nats = PrivateNats::start().await?;
    let environment = Environment {
        nats_url: Some(nats.url()),
        ingest_as_process: true,
        settings: quick_republishing(),
        ..Environment::default()
    };
    upload_through_a_restart("restart nats", environment, &nats, OUTAGE, acked_normally).await
}

#[tokio::test]
async fn a_postgres_restart_mid_upload_loses_nothing_and_applies_every_row_once()
-> anyhow::Result<()> {
    let postgres = PrivatePostgres::start().await?;
    let environment = Environment {
        postgres_server_url: Some(postgres.server_url()),
        ingest_as_process: true,
        settings: quick_republishing(),
        ..Environment::default()
    };
    upload_through_a_restart("restart postgres", environment, &postgres, OUTAGE, acked_normally)
        .await
}

#[tokio::test]
async fn a_postgres_outage_longer_than_the_stall_threshold_reruns_no_job() -> anyhow::Result<()> {
    let postgres = PrivatePostgres::start().await?;
    let environment = Environment {
        postgres_server_url: Some(postgres.server_url()),
        ingest_as_process: true,
        settings: long_outage_settings(),
        ..Environment::default()
    };
    let scenario = "long postgres outage";
    upload_through_a_restart(scenario, environment, &postgres, LONG_OUTAGE, acked_normally).await
}

#[tokio::test]
async fn a_nats_outage_longer_than_the_stall_threshold_reruns_no_job() -> anyhow::Result<()> {
    let nats = PrivateNats::start().await?;
    let environment = Environment {
        nats_url: Some(nats.url()),
        ingest_as_process: true,
        settings: long_outage_settings(),
        ..Environment::default()
    };
    let scenario = "long nats outage";
    upload_through_a_restart(scenario, environment, &nats, LONG_OUTAGE, acked_normally).await
}

#[tokio::test]
async fn a_rabbitmq_outage_longer_than_the_stall_threshold_reruns_no_job() -> anyhow::Result<()> {
    let (rabbit, _) = PrivateRabbit::start().await?;
    let environment = Environment {
        amqp_url: Some(rabbit.url()),
        ingest_as_process: true,
        settings: long_outage_settings(),
        ..Environment::default()
    };
    let settled = async |system: &TestSystem| {
        Ok(rabbit.messages(&system.names().queue(JobType::ProductUpload)).await? == 0)
    };
    let scenario = "long rabbitmq outage";
    upload_through_a_restart(scenario, environment, &rabbit, LONG_OUTAGE, settled).await
}

/// An upload accepted by an ingest that could not queue it (its broker connection had
/// just closed) is published by the next ingest's sweeper: after 2 s, not 30.
fn quick_republishing() -> Vec<(&'static str, String)> {
    vec![("BGJOBS_REPUBLISH_AFTER_SECS", "2".to_owned())]
}

/// The settings of the long-outage scenarios: the stall threshold shortened to
/// [`SHORT_STALL_THRESHOLD`], and consumers that keep a job's silence well below it
/// (a heartbeat every 2 s, retry delays of at most 4 s) and retry a transient fault
/// for longer than [`LONG_OUTAGE`] (10 retries).
fn long_outage_settings() -> Vec<(&'static str, String)> {
    let mut settings = quick_republishing();
    settings.extend([
        ("BGJOBS_STALL_THRESHOLD_SECS", SHORT_STALL_THRESHOLD.as_secs().to_string()),
        ("BGJOBS_HEARTBEAT_SECS", "2".to_owned()),
        ("BGJOBS_RETRY_ATTEMPTS", "10".to_owned()),
        ("BGJOBS_RETRY_MAX_MS", "4000".to_owned()),
    ]);
    settings
}

/// With the broker up all along, the consumer's ack settles the message with the job.
async fn acked_normally(_system: &TestSystem) -> anyhow::Result<bool> {
    Ok(true)
}

/// Uploads a file in `environment`, stops `server` for `outage` once some but not
/// all of it is committed (submitting another upload meanwhile), waits for the job to
/// end and its message to be `settled`, and checks the four invariants against a
/// fault-free run of the same file (on the shared stack, alongside), and that both
/// jobs completed on their first attempt: an outage is no reason to run a job again.
async fn upload_through_a_restart(
    scenario: &str,
    environment: Environment,
    server: &impl Restartable,
    outage: Duration,
    settled: impl AsyncFn(&TestSystem) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let file = product_file(ROWS, &BAD_ROWS);
    let faulted = restarted_run(scenario, environment, &file, server, outage, settled);
    let (checksum, reference) = tokio::join!(faulted, fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("{scenario}: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// The faulted run; returns the catalogue's checksum. The system is stopped whatever
/// happens, so that no queue is left on a shared broker.
async fn restarted_run(
    scenario: &str,
    environment: Environment,
    file: &str,
    server: &impl Restartable,
    outage: Duration,
    settled: impl AsyncFn(&TestSystem) -> anyhow::Result<bool>,
) -> anyhow::Result<String> {
    let system =
        TestSystem::start_in(Options { product_upload_in_process: false }, environment).await?;
    let supervisor = Supervisor::new(&scenario.replace(' ', "-"));
    let fault = Fault { server, outage };
    let checked = check_restarted_run(scenario, &system, &supervisor, file, fault, settled).await;
    drop(supervisor);
    system.stop().await?;
    checked
}

async fn check_restarted_run(
    scenario: &str,
    system: &TestSystem,
    supervisor: &Supervisor,
    file: &str,
    Fault { server, outage }: Fault<'_, impl Restartable>,
    settled: impl AsyncFn(&TestSystem) -> anyhow::Result<bool>,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let liveness = format!("{}/healthz", system.ingest_url);
    supervisor.start("ingest", PathBuf::from(INGEST), system, &[], Some(liveness))?;
    let consumer_env = [("BGJOBS_BATCH_SIZE", BATCH_ROWS)];
    supervisor.start("product-upload/restarts", PRODUCT_UPLOAD, system, &consumer_env, None)?;
    let job_id = submit_once_ingest_is_up(system, file).await?;
    let job: JobId = job_id.parse()?;

    let before = wait::until("some but not all rows committed", FINISH_DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed >= ROWS / 10 && c.rows_committed < ROWS))
    })
    .await?;
    // Another client's upload is submitted while the dependency is down, and again
    // until ingest accepts it, as a client retries a failed upload.
    system.store.catalog().ensure_client(&system.account, OTHER_CLIENT, "Beta Ltd").await?;
    let other_file = product_file(OTHER_ROWS, &[]);
    let stopped_at = Instant::now();
    server.stop().await?;
    let back = async {
        tokio::time::sleep(outage).await;
        server.start().await?;
        anyhow::Ok(stopped_at.elapsed())
    };
    let (down, other) =
        tokio::join!(back, submit_until_accepted(system, OTHER_CLIENT, &other_file));
    let (down, (other_id, tries)) = (down?, other?);
    eprintln!(
        "{scenario}: restarted in {down:?}, {} of {ROWS} rows committed before, {:?} after \
         start; the other upload was accepted at try {tries}",
        before.rows_committed,
        started.elapsed()
    );

    let job_ids = [job_id.clone(), other_id.clone()];
    let jobs = assert_all_final(system, &job_ids, FINISH_DEADLINE).await?;
    for job in &jobs {
        anyhow::ensure!(
            job_status_from_proto(job.status) == Some(JobStatus::Completed),
            "job {} ended {:?}: {}",
            job.job_id,
            job.status(),
            job.message
        );
        anyhow::ensure!(
            job.attempt == 1,
            "job {} was run again (attempt {}) after a {outage:?} outage: {:#?}",
            job.job_id,
            job.attempt,
            system.log(&job.job_id).await?
        );
    }
    let finished = &jobs[0];
    let finished_after = started.elapsed();
    wait::until("the job's message to be settled", FINISH_DEADLINE, || async {
        Ok(settled(system).await?.then_some(()))
    })
    .await?;
    // Checked once the message is settled: a late redelivery changes nothing.
    assert_applied_once(system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let other_products =
        system.store.catalog().count_products(&system.account, OTHER_CLIENT).await?;
    anyhow::ensure!(other_products == OTHER_ROWS, "the other client has {other_products} products");
    assert_legal_transitions(&system.log(&other_id).await?);
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    let deliveries = log.iter().map(|entry| entry.delivery).max().unwrap_or(0);
    eprintln!(
        "{scenario}: completed on attempt {} after {finished_after:?}, settled after {:?}; \
         {deliveries} deliveries, restarts: ingest {}, consumer {}",
        finished.attempt,
        started.elapsed(),
        supervisor.restarts("ingest"),
        supervisor.restarts("product-upload/restarts"),
    );
    catalogue_checksum(system, &system.account, &system.client_id).await
}

/// A dependency's outage: `server` stopped for `outage`.
struct Fault<'a, S> {
    server: &'a S,
    outage: Duration,
}

/// Submits `file` once ingest, just started as a process, accepts uploads.
async fn submit_once_ingest_is_up(system: &TestSystem, file: &str) -> anyhow::Result<String> {
    let ready = format!("{}/readyz", system.ingest_url);
    wait::until("ingest to be ready", Duration::from_secs(60), || async {
        let response = system.http.get(&ready).send().await;
        Ok(response.ok().filter(|response| response.status().is_success()).map(|_| ()))
    })
    .await?;
    system.submit_products(file.to_owned()).await.context("submitting the upload")
}

/// Submits `file` for `client` until ingest answers 202 (a connection refused or a 5xx
/// is tried again, as a client would); returns the job id and the number of tries.
async fn submit_until_accepted(
    system: &TestSystem,
    client: &str,
    file: &str,
) -> anyhow::Result<(String, u32)> {
    let url = format!(
        "{}/v1/accounts/{}/jobs/product-upload?client_id={client}&file_name=products.csv",
        system.ingest_url, system.account
    );
    let token = system.user_token(None);
    let tries = std::sync::atomic::AtomicU32::new(0);
    let job_id =
        wait::until("an upload during the restart to be accepted", FINISH_DEADLINE, || {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let request = system
                .http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "text/csv")
                .body(file.to_owned());
            async move {
                let Ok(response) = request.send().await else { return Ok(None) };
                let status = response.status();
                anyhow::ensure!(!status.is_client_error(), "ingest refused the upload: {status}");
                if status != reqwest::StatusCode::ACCEPTED {
                    return Ok(None);
                }
                let body: serde_json::Value = response.json().await?;
                Ok(body["job_id"].as_str().map(str::to_owned))
            }
        })
        .await?;
    Ok((job_id, tries.into_inner()))
}
