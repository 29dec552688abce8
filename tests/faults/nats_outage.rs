//! A NATS outage longer than the 5 s a publish waits for JetStream's acknowledgement,
//! in the middle of an upload, against a private NATS server. The consumer tries its
//! event again in place, with the same event id, until NATS is back: the job pauses
//! and goes on, in one delivery, with no transient fault and no retry.

use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::JobId;
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    ensure_completed_on, fault_free_checksum, valid_rows,
};
use bgjobs_e2e::private_stack::{PrivateNats, Restartable};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_test_support::wait;

use crate::consumer;

const ROWS: u64 = 20_000;
const BAD_ROWS: [u64; 2] = [9, 13_131];
/// How long NATS is away: more than twice the 5 s a publish waits for its
/// acknowledgement. The registry's stall threshold stays at its default (300 s).
const OUTAGE: Duration = Duration::from_secs(12);
/// How long the upload may take, outage included.
const FINISH_DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_nats_outage_longer_than_the_ack_wait_pauses_the_upload_without_a_retry()
-> anyhow::Result<()> {
    let started = Instant::now();
    let file = product_file(ROWS, &BAD_ROWS);
    let (checksum, reference) = tokio::join!(outage_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("nats outage: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// The faulted run; returns the catalogue's checksum. The system is stopped whatever
/// happens, so that no queue is left on the shared broker.
async fn outage_run(file: &str) -> anyhow::Result<String> {
    let nats = PrivateNats::start().await?;
    let environment = Environment { nats_url: Some(nats.url()), ..Environment::default() };
    let system =
        TestSystem::start_in(Options { product_upload_in_process: false }, environment).await?;
    let checked = check_outage_run(&system, &nats, file).await;
    system.stop().await?;
    checked
}

async fn check_outage_run(
    system: &TestSystem,
    nats: &PrivateNats,
    file: &str,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let _consumer = consumer(system, "product-upload/nats-outage", &[])?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let job: JobId = job_id.parse()?;
    let before = wait::until("some but not all rows committed", FINISH_DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed >= ROWS / 10 && c.rows_committed < ROWS))
    })
    .await?;

    let stopped_at = Instant::now();
    nats.stop().await?;
    tokio::time::sleep(OUTAGE).await;
    // The pass waits at its first event after the stop, so the file is not done yet.
    let paused = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    anyhow::ensure!(paused.rows_committed < ROWS, "the file was done during the outage");
    nats.start().await?;
    let down = stopped_at.elapsed();

    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), FINISH_DEADLINE).await?;
    let finished = &jobs[0];
    ensure_completed_on(finished, 1)?;
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    let deliveries = log.iter().map(|entry| entry.delivery).max().unwrap_or(0);
    let faults: Vec<&str> = log
        .iter()
        .filter(|entry| entry.message.starts_with("transient fault"))
        .map(|entry| entry.message.as_str())
        .collect();
    anyhow::ensure!(
        deliveries == 1 && faults.is_empty(),
        "the outage was not ridden out: {deliveries} deliveries, transient faults: {faults:?}"
    );
    assert_applied_once(system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    eprintln!(
        "nats outage: down {down:?} from {} rows committed ({} when it came back); completed \
         on attempt 1 in one delivery {:?} after start",
        before.rows_committed,
        paused.rows_committed,
        started.elapsed()
    );
    catalogue_checksum(system, &system.account, &system.client_id).await
}
