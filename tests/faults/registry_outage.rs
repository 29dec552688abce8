//! The registry is down for longer than the stall threshold while a job runs: its only
//! replica is killed (SIGKILL) mid-upload and a new one starts 20 s later, the
//! threshold being 15 s. The consumer works on meanwhile, its events waiting in the
//! stream (it may finish the file meanwhile). When the new replica starts, the job
//! looks silent for longer than the
//! threshold, yet its worker is alive: the replica must apply the waiting events
//! before it judges silence, and the job completes on attempt 1.
//!
//! With this backlog (one job's events) the new replica's applier wins the race with
//! its first sweep even when silence is judged at once on start-up; the NATS outage of
//! `restarts` is the scenario that fails without the wait.

use std::path::Path;
use std::time::{Duration, Instant};

use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    ensure_completed_on, fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

use crate::consumer;

const JOBS_REGISTRY: &str = env!("CARGO_BIN_EXE_e2e-jobs-registry");
const ROWS: u64 = 30_000;
const BAD_ROWS: [u64; 2] = [5, 25_000];
/// The registry's stall threshold, shortened from five minutes.
const STALL_THRESHOLD: Duration = Duration::from_secs(15);
/// How long no registry runs: longer than the threshold.
const OUTAGE: Duration = Duration::from_secs(20);
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_registry_down_for_longer_than_the_stall_threshold_reruns_no_job() -> anyhow::Result<()> {
    let started = Instant::now();
    let file = product_file(ROWS, &BAD_ROWS);
    let (checksum, reference) = tokio::join!(outage_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("registry outage: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// The faulted run; returns the catalogue's checksum. The system is stopped whatever
/// happens, so that no queue is left on the shared broker.
async fn outage_run(file: &str) -> anyhow::Result<String> {
    let settings = vec![
        ("BGJOBS_STALL_THRESHOLD_SECS", STALL_THRESHOLD.as_secs().to_string()),
        // A live consumer beats well within the short threshold.
        ("BGJOBS_HEARTBEAT_SECS", "2".to_owned()),
    ];
    let environment = Environment { registry_as_process: true, settings, ..Environment::default() };
    let system =
        TestSystem::start_in(Options { product_upload_in_process: false }, environment).await?;
    let checked = check_outage_run(&system, file).await;
    system.stop().await?;
    checked
}

async fn check_outage_run(system: &TestSystem, file: &str) -> anyhow::Result<String> {
    let registry = Path::new(JOBS_REGISTRY);
    let first = ServiceProcess::start(registry, system, "jobs-registry/first", "faults", &[])?;
    answering(system).await?;
    let _worker = consumer(system, "product-upload/outage", &[])?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let job: JobId = job_id.parse()?;
    wait::until("the job to be In Progress with rows committed", DEADLINE, || async {
        let running = job_status_from_proto(system.job(&job_id).await?.status);
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        let committed = checkpoint.is_some_and(|checkpoint| checkpoint.rows_committed > 0);
        Ok((running == Some(JobStatus::InProgress) && committed).then_some(()))
    })
    .await?;

    first.kill()?;
    let killed_at = Instant::now();
    let committed_at_kill = committed(system, job).await?;
    // The outage itself: no registry runs for this long.
    tokio::time::sleep(OUTAGE).await;
    let committed_at_restart = committed(system, job).await?;
    let _second = ServiceProcess::start(registry, system, "jobs-registry/second", "faults", &[])?;
    answering(system).await?;
    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), DEADLINE).await?;
    eprintln!(
        "registry outage: killed with {committed_at_kill} of {ROWS} rows committed, restarted \
         {OUTAGE:?} later with {committed_at_restart}; the job ended {:?} after the kill",
        killed_at.elapsed()
    );
    anyhow::ensure!(
        committed_at_kill < ROWS && committed_at_restart > committed_at_kill,
        "the consumer did not work on through the outage"
    );
    let finished = &jobs[0];
    ensure_completed_on(finished, 1)?;
    assert_legal_transitions(&system.log(&job_id).await?);
    assert_applied_once(system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    catalogue_checksum(system, &system.account, &system.client_id).await
}

async fn answering(system: &TestSystem) -> anyhow::Result<()> {
    wait::until("the registry to answer", DEADLINE, || async {
        Ok(system.jobs().await.ok().map(|_| ()))
    })
    .await
}

async fn committed(system: &TestSystem, job: JobId) -> anyhow::Result<u64> {
    let checkpoint = system.store.catalog().checkpoint(job).await?;
    Ok(checkpoint.map_or(0, |checkpoint| checkpoint.rows_committed))
}
