//! Graceful shutdown: the real `product-upload` binary gets SIGTERM in the middle of
//! a file, as Kubernetes sends on every rollout. It takes nothing new, finishes the job
//! within the grace period or hands it back, and exits 0; nothing is lost or applied
//! twice.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bgjobs_database::catalog::Checkpoint;
use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

const ROWS: u64 = 50_000;

/// The `product-upload` consumer as this package's binary (see `tests/bin`).
const PRODUCT_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-product-upload");

/// A consumer with batches of 200 rows and `grace_secs` of shutdown grace.
fn consumer(
    system: &TestSystem,
    worker_id: &str,
    grace_secs: &str,
) -> anyhow::Result<ServiceProcess> {
    let env = [("BGJOBS_BATCH_SIZE", "200"), ("BGJOBS_SHUTDOWN_GRACE_SECS", grace_secs)];
    ServiceProcess::start(Path::new(PRODUCT_UPLOAD), system, worker_id, "shutdown", &env)
}

/// Waits until the job has committed some rows but not all: the middle of the file.
async fn mid_file(system: &TestSystem, job: JobId) -> anyhow::Result<Checkpoint> {
    wait::until("some but not all rows committed", Duration::from_secs(120), || {
        let store = &system.store;
        async move {
            let checkpoint = store.catalog().checkpoint(job).await?;
            Ok(checkpoint.filter(|c| c.rows_committed > 0 && c.rows_committed < ROWS))
        }
    })
    .await
}

#[tokio::test]
async fn sigterm_mid_job_lets_the_job_finish_within_the_grace_period_then_exits_0()
-> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let mut worker = consumer(&system, "product-upload/graceful", "120")?;
    let job_id = system.submit_products(product_file(ROWS, &[])).await?;
    mid_file(&system, job_id.parse()?).await?;

    worker.terminate()?;
    let (status, took) = worker.exited(Duration::from_secs(130)).await?;

    assert!(status.success(), "exit status {status}");
    println!("finished the job and exited {took:?} after SIGTERM");
    let finished = system.finished_job(&job_id, Duration::from_secs(10)).await?;
    assert_eq!(job_status_from_proto(finished.status), Some(JobStatus::Completed));
    let log = system.log(&job_id).await?;
    assert!(
        log.iter().all(|entry| !entry.message.starts_with("Resumed by")),
        "the job was finished by the worker that got SIGTERM, in one delivery"
    );
    assert_eq!(
        system.store.catalog().count_products(&system.account, &system.client_id).await?,
        ROWS
    );
    system.stop().await
}

#[tokio::test]
async fn sigterm_past_the_grace_period_hands_the_job_back_and_another_worker_finishes_it_once()
-> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let mut first = consumer(&system, "product-upload/first", "0")?;
    let job_id = system.submit_products(product_file(ROWS, &[])).await?;
    let job: JobId = job_id.parse()?;
    mid_file(&system, job).await?;

    first.terminate()?;
    let (status, took) = first.exited(Duration::from_secs(10)).await?;

    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(5), "a grace of 0 s took {took:?}");
    let handed_back = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    assert!(handed_back.rows_committed < ROWS, "it finished before SIGTERM: {handed_back:?}");

    let _second = consumer(&system, "product-upload/second", "25")?;
    let finished = system.finished_job(&job_id, Duration::from_secs(180)).await?;
    assert_eq!(
        job_status_from_proto(finished.status),
        Some(JobStatus::Completed),
        "{}",
        finished.message
    );
    let log = system.log(&job_id).await?;
    assert!(
        log.iter().any(|entry| entry.message == "Resumed by product-upload/second (delivery 2)"),
        "{:?}",
        log.iter().map(|entry| &entry.message).collect::<Vec<_>>()
    );
    // Every row applied once: all created, none updated by a replayed batch.
    let last = system.store.catalog().checkpoint(job).await?.context("no final checkpoint")?;
    assert_eq!((last.rows_committed, last.rows_created, last.rows_updated), (ROWS, ROWS, 0));
    assert_eq!(
        system.store.catalog().count_products(&system.account, &system.client_id).await?,
        ROWS
    );
    system.stop().await
}
