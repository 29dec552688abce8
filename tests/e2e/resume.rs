//! Resumption after a crash: the real `product-upload` binary is killed (SIGKILL)
//! in the middle of a file, a new one takes the redelivered message, and the job
//! completes with every row applied exactly once.
//!
//! The binary is `e2e-product-upload`, a binary of this package that runs exactly what
//! `product-upload`'s `main` runs (`product_upload::run`), so cargo builds it with the
//! tests and `CARGO_BIN_EXE_*` finds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bgjobs_domain::JobId;
use bgjobs_domain::JobStatus;
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

const ROWS: u64 = 50_000;
const BAD_ROWS: [u64; 2] = [10, 40_000];

/// The `product-upload` consumer as this package's binary (see `tests/bin`), built
/// by cargo together with this test.
const PRODUCT_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-product-upload");

/// The consumer with batches of 200 rows, so that a kill lands between commits.
fn consumer(binary: &Path, system: &TestSystem, worker_id: &str) -> anyhow::Result<ServiceProcess> {
    ServiceProcess::start(binary, system, worker_id, "resume", &[("BGJOBS_BATCH_SIZE", "200")])
}

#[tokio::test]
async fn a_consumer_killed_mid_file_is_resumed_by_another_and_every_row_applies_once()
-> anyhow::Result<()> {
    let binary = PathBuf::from(PRODUCT_UPLOAD);
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let first = consumer(&binary, &system, "product-upload/first")?;
    let job_id = system.submit_products(product_file(ROWS, &BAD_ROWS)).await?;
    let job: JobId = job_id.parse()?;

    // Kill once some batches are committed but not all: the kill lands mid-file.
    let at_kill = wait::until("some but not all rows committed", Duration::from_secs(120), || {
        let store = &system.store;
        async move {
            let checkpoint = store.catalog().checkpoint(job).await?;
            Ok(checkpoint.filter(|c| c.rows_committed > 0 && c.rows_committed < ROWS))
        }
    })
    .await?;
    first.kill()?;
    let committed_before =
        system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    assert!(
        committed_before.rows_committed < ROWS,
        "the first consumer finished before it was killed: {committed_before:?}"
    );
    assert!(committed_before.rows_committed >= at_kill.rows_committed);

    let _second = consumer(&binary, &system, "product-upload/second")?;
    let finished = system.finished_job(&job_id, Duration::from_secs(180)).await?;
    assert_eq!(
        job_status_from_proto(finished.status),
        Some(JobStatus::Completed),
        "{}",
        finished.message
    );
    // Every row counted once, rows before and after the kill alike.
    assert_eq!(finished.message, "49,998 of 50,000 rows imported, 2 rejected");
    let counters = finished.counters.unwrap_or_default();
    assert_eq!((counters.rows_total, counters.rows_rejected), (ROWS, 2));

    let log = system.log(&job_id).await?;
    assert!(
        log.iter().any(|entry| entry.message == "Resumed by product-upload/second (delivery 2)"),
        "no resumed delivery in the log: {:?}",
        log.iter().map(|entry| &entry.message).collect::<Vec<_>>()
    );

    // Every valid row became a product exactly once: each was counted created once,
    // and a row replayed after the checkpoint would have counted as unchanged.
    let valid = ROWS - BAD_ROWS.len() as u64;
    assert_eq!(
        system.store.catalog().count_products(&system.account, &system.client_id).await?,
        valid
    );
    let last = system.store.catalog().checkpoint(job).await?.context("no final checkpoint")?;
    assert_eq!((last.rows_committed, last.rows_rejected), (ROWS, 2), "{last:?}");
    assert_eq!(
        (last.rows_created, last.rows_updated, last.rows_unchanged),
        (valid, 0, 0),
        "{last:?}"
    );

    // The results file has one line per input row, in order: rows the first consumer
    // committed are "applied", the rest created, the two bad ones rejected.
    let records = system.results_records(&finished).await?;
    assert_eq!(records.len() as u64, 1 + ROWS);
    for (row, record) in (1..=ROWS).zip(&records[1..]) {
        let expected = if BAD_ROWS.contains(&row) {
            "rejected"
        } else if row <= committed_before.rows_committed {
            "applied"
        } else {
            "created"
        };
        assert_eq!(
            (record[0].as_str(), record[2].as_str()),
            (row.to_string().as_str(), expected),
            "{record:?}"
        );
    }
    assert_eq!(records[1][3], "committed by an earlier delivery");
    system.stop().await
}
