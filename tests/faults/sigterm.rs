//! Scenario 6: SIGTERM during processing, as Kubernetes sends on every rollout. The
//! first consumer has no grace period: it hands the job back mid-file and exits 0. The
//! second, with a long grace period, gets SIGTERM mid-file too and finishes the job
//! before it exits 0. Nothing is lost, nothing applied twice.

use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_database::catalog::Checkpoint;
use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

use crate::consumer;

/// The same file as the kill scenario, so one fault-free run serves both.
const ROWS: u64 = 30_000;
const BAD_ROWS: [u64; 3] = [7, 12_345, 29_999];

/// Waits until more than `after` rows, but not all, are committed.
async fn committed_beyond(
    system: &TestSystem,
    job: JobId,
    after: u64,
) -> anyhow::Result<Checkpoint> {
    let what = format!("more than {after} but not all rows committed");
    wait::until(&what, Duration::from_secs(120), || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed > after && c.rows_committed < ROWS))
    })
    .await
}

#[tokio::test]
async fn sigterm_mid_file_hands_the_job_back_or_finishes_it_and_nothing_is_lost_or_applied_twice()
-> anyhow::Result<()> {
    let file = product_file(ROWS, &BAD_ROWS);
    let started = Instant::now();
    // The fault-free reference runs beside the faulted run, on its own system.
    let (checksum, reference) = tokio::join!(terminated_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("sigterm: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// Uploads `file`; SIGTERMs a consumer without grace, then one with grace, both
/// mid-file; checks the job and returns the catalogue's checksum.
async fn terminated_run(file: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let mut impatient =
        consumer(&system, "product-upload/no-grace", &[("BGJOBS_SHUTDOWN_GRACE_SECS", "0")])?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let job: JobId = job_id.parse()?;

    committed_beyond(&system, job, 0).await?;
    impatient.terminate()?;
    let (status, took) = impatient.exited(Duration::from_secs(10)).await?;
    assert!(status.success(), "the consumer without grace exited with {status}");
    let handed_back = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    assert!(handed_back.rows_committed < ROWS, "it finished before SIGTERM: {handed_back:?}");
    eprintln!("sigterm: no grace: exited {took:?} after SIGTERM, {handed_back:?}");

    let mut patient =
        consumer(&system, "product-upload/grace", &[("BGJOBS_SHUTDOWN_GRACE_SECS", "120")])?;
    let at_term = committed_beyond(&system, job, handed_back.rows_committed).await?;
    patient.terminate()?;
    let (status, took) = patient.exited(Duration::from_secs(130)).await?;
    assert!(status.success(), "the consumer with grace exited with {status}");
    eprintln!(
        "sigterm: grace 120 s: SIGTERM at {} rows committed, finished and exited {took:?} later",
        at_term.rows_committed
    );

    // The second consumer finished the job before it exited: nothing is left to wait for.
    let jobs =
        assert_all_final(&system, std::slice::from_ref(&job_id), Duration::from_secs(30)).await?;
    eprintln!("sigterm: completed {:?} after start", started.elapsed());
    let finished = &jobs[0];
    assert_eq!(
        job_status_from_proto(finished.status),
        Some(JobStatus::Completed),
        "{}",
        finished.message
    );
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    assert!(
        log.iter().any(|entry| entry.message == "Resumed by product-upload/grace (delivery 2)"),
        "the handed-back message was not resumed by the second consumer"
    );
    assert_applied_once(&system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let checksum = catalogue_checksum(&system, &system.account, &system.client_id).await?;
    system.stop().await?;
    Ok(checksum)
}
