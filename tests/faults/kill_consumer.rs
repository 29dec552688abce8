//! Scenario 1: `kill -9` the product-upload consumer at random points of a large
//! upload, several times, a fresh consumer started after each kill (as an orchestrator
//! restarts a pod). The kill points are drawn from a seeded generator; the seed is
//! printed, and `BGJOBS_FAULTS_SEED=<seed>` replays the same points.

use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::{EventKind, JobId, JobStatus};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::{event_kind_to_proto, job_status_from_proto};
use bgjobs_test_support::wait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{BATCH_ROWS, consumer, seed};

const ROWS: u64 = 30_000;
const BAD_ROWS: [u64; 3] = [7, 12_345, 29_999];
const KILLS: u64 = 4;

/// `KILLS` commit counts to kill at, one in each of the first `KILLS` of `KILLS + 1`
/// equal stretches of the file (so the kills come in order and the last stretch is
/// left to finish), each a whole number of batches.
fn kill_points(rng: &mut StdRng) -> Vec<u64> {
    let stretch = ROWS / (KILLS + 1) / BATCH_ROWS;
    (0..KILLS).map(|kill| (kill * stretch + rng.random_range(1..stretch)) * BATCH_ROWS).collect()
}

#[tokio::test]
async fn a_consumer_killed_again_and_again_mid_file_loses_nothing_and_applies_every_row_once()
-> anyhow::Result<()> {
    let seed = seed()?;
    let points = kill_points(&mut StdRng::seed_from_u64(seed));
    eprintln!(
        "kill -9: seed {seed} (BGJOBS_FAULTS_SEED={seed} replays it), kill points {points:?}"
    );
    let file = product_file(ROWS, &BAD_ROWS);
    let started = Instant::now();
    // The fault-free reference runs beside the faulted run, on its own system.
    let (checksum, reference) =
        tokio::join!(killed_run(&file, &points), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("kill -9: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// Uploads `file`, kills the consumer once `points` rows are committed, each in turn,
/// starting a fresh one after each kill; checks the job and returns the catalogue's
/// checksum.
async fn killed_run(file: &str, points: &[u64]) -> anyhow::Result<String> {
    let started = Instant::now();
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let mut worker = consumer(&system, "product-upload/life-0", &[])?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let job: JobId = job_id.parse()?;

    let mut killed_at = Vec::new();
    for (life, point) in points.iter().enumerate() {
        // This life must have taken the message (its delivery claimed the checkpoint,
        // which comes after its Started event) before it is killed: a kill point the
        // previous life already passed would otherwise kill it before it starts.
        let delivery = life as u32 + 1;
        let what = format!("{point} rows committed, delivery {delivery} running");
        wait::until(&what, Duration::from_secs(120), || async {
            let checkpoint = system.store.catalog().checkpoint(job).await?;
            Ok(checkpoint.filter(|checkpoint| {
                checkpoint.delivery == delivery && checkpoint.rows_committed >= *point
            }))
        })
        .await?;
        worker.kill()?;
        let committed = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
        anyhow::ensure!(
            committed.rows_committed < ROWS,
            "kill {} came after the whole file was committed: {committed:?}",
            life + 1
        );
        killed_at.push(committed.rows_committed);
        worker = consumer(&system, &format!("product-upload/life-{}", life + 1), &[])?;
    }
    let jobs =
        assert_all_final(&system, std::slice::from_ref(&job_id), Duration::from_secs(180)).await?;
    eprintln!(
        "kill -9: killed at {killed_at:?} rows committed; completed {:?} after start",
        started.elapsed()
    );

    let finished = &jobs[0];
    assert_eq!(
        job_status_from_proto(finished.status),
        Some(JobStatus::Completed),
        "{}",
        finished.message
    );
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    // Each life took the message once: one Started per delivery, in order.
    let started_kind = event_kind_to_proto(EventKind::Started) as i32;
    let deliveries: Vec<u32> =
        log.iter().filter(|entry| entry.kind == started_kind).map(|entry| entry.delivery).collect();
    let expected: Vec<u32> = (1..=points.len() as u32 + 1).collect();
    assert_eq!(deliveries, expected, "one Started per delivery");
    assert_applied_once(&system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let checksum = catalogue_checksum(&system, &system.account, &system.client_id).await?;
    drop(worker);
    system.stop().await?;
    Ok(checksum)
}
