//! Scenario 5: the product-upload consumer is frozen (SIGSTOP) inside a batch
//! transaction for longer than the stall threshold. Postgres ends its session after
//! the idle-in-transaction timeout, which releases the job row's fencing lock; the
//! registry's stall recovery requeues the job as attempt 2, which another consumer
//! completes. Then the frozen consumer wakes (SIGCONT): its writes are refused, and
//! nothing is applied twice.
//!
//! The scenario runs twice: a partial upload with bad rows in the default write mode,
//! and a create-only, all-or-nothing upload, whose attempt 2 must take the rows attempt
//! 1 created as its own rather than refuse them as existing (which would fail it).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_legal_transitions, catalogue_checksum, fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::Job;
use bgjobs_test_support::wait;

use crate::PRODUCT_UPLOAD;
use sea_orm::{ConnectionTrait, Statement};

const ROWS: u64 = 20_000;

/// One run of the scenario: the upload's options and the file's bad rows.
struct Case {
    /// Begins the scenario's output lines and names its processes' logs.
    name: &'static str,
    /// Appended to the upload URL.
    query: &'static str,
    bad_rows: &'static [u64],
}

const PARTIAL: Case = Case { name: "sigstop", query: "", bad_rows: &[11, 17_777] };
const CREATE_ONLY_ALL_OR_NOTHING: Case = Case {
    name: "sigstop-create-only",
    query: "&write=create-only&mode=all-or-nothing",
    bad_rows: &[],
};
/// Silence after which the registry recovers a job (the default is 5 minutes).
const STALL_THRESHOLD_SECS: u64 = 3;
/// How long Postgres lets a session sit idle inside a transaction (default 10 s).
const IDLE_IN_TRANSACTION_TIMEOUT_SECS: u64 = 2;
/// How many times to try freezing the consumer inside a transaction rather than
/// between two (most of a consumer's time is spent inside one).
const FREEZE_TRIES: u32 = 30;

#[tokio::test]
async fn a_consumer_frozen_past_the_stall_threshold_is_replaced_and_refused_when_it_wakes()
-> anyhow::Result<()> {
    run(&PARTIAL).await
}

#[tokio::test]
async fn a_create_only_all_or_nothing_upload_completes_on_the_replacing_consumer()
-> anyhow::Result<()> {
    run(&CREATE_ONLY_ALL_OR_NOTHING).await
}

async fn run(case: &Case) -> anyhow::Result<()> {
    let started = Instant::now();
    let file = product_file(ROWS, case.bad_rows);
    let (checksum, reference) = tokio::join!(frozen_run(&file, case), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("{}: total with the fault-free reference {:?}", case.name, started.elapsed());
    Ok(())
}

/// The faulted run; returns the catalogue's checksum. The system is stopped whatever
/// happens, so that no queue is left on the shared broker.
async fn frozen_run(file: &str, case: &Case) -> anyhow::Result<String> {
    let settings = vec![
        ("BGJOBS_STALL_THRESHOLD_SECS", STALL_THRESHOLD_SECS.to_string()),
        (
            "BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS",
            IDLE_IN_TRANSACTION_TIMEOUT_SECS.to_string(),
        ),
        // A live consumer must beat well within the short threshold.
        ("BGJOBS_HEARTBEAT_SECS", "1".to_owned()),
        // Ingest publishes the recovered attempt within a second or two.
        ("BGJOBS_REPUBLISH_AFTER_SECS", "1".to_owned()),
        // Large batches: most of the consumer's time is spent inside a transaction.
        ("BGJOBS_BATCH_SIZE", "500".to_owned()),
    ];
    let environment = Environment { settings, ..Environment::default() };
    let system =
        TestSystem::start_in(Options { product_upload_in_process: false }, environment).await?;
    let checked = check_frozen_run(&system, file, case).await;
    system.stop().await?;
    checked
}

async fn check_frozen_run(system: &TestSystem, file: &str, case: &Case) -> anyhow::Result<String> {
    let binary = Path::new(PRODUCT_UPLOAD);
    let frozen = ServiceProcess::start(binary, system, "product-upload/frozen", case.name, &[])?;
    let job_id = system.submit_products_with(file.to_owned(), case.query).await?;
    let job: JobId = job_id.parse()?;
    wait::until("some rows committed", Duration::from_secs(120), || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed >= ROWS / 10))
    })
    .await?;

    let tries = freeze_inside_a_transaction(system, &frozen).await?;
    let frozen_at = Instant::now();
    // The frozen batch cannot commit: this is what attempt 1 left.
    let left = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    anyhow::ensure!(left.rows_committed < ROWS, "the file was done before the freeze: {left:?}");
    eprintln!(
        "{}: frozen inside a transaction (try {tries}) with {} of {ROWS} rows committed",
        case.name, left.rows_committed
    );

    let _replacement =
        ServiceProcess::start(binary, system, "product-upload/replacement", case.name, &[])?;
    wait::until("the stall recovery to requeue the job", Duration::from_secs(60), || async {
        Ok((system.job(&job_id).await?.attempt >= 2).then_some(()))
    })
    .await?;
    let recovered_after = frozen_at.elapsed();
    let jobs =
        assert_all_final(system, std::slice::from_ref(&job_id), Duration::from_secs(180)).await?;
    let finished = &jobs[0];
    anyhow::ensure!(
        job_status_from_proto(finished.status) == Some(JobStatus::Completed)
            && finished.attempt == 2,
        "the job ended {:?} on attempt {}: {}",
        finished.status(),
        finished.attempt,
        finished.message
    );
    let completed_after = frozen_at.elapsed();

    // The stale worker wakes up. Its session is gone, so its batch rolls back; whatever
    // it tries next for attempt 1 is refused by fencing, and it stops.
    frozen.signal("CONT")?;
    let refused =
        wait::until("the woken worker to be refused", Duration::from_secs(60), || async {
            let log = system.log(&job_id).await?;
            Ok(log.into_iter().find(|entry| {
                entry.attempt == 1 && entry.message.starts_with("Stopped, nothing more written")
            }))
        })
        .await?;
    anyhow::ensure!(refused.ignored, "attempt 1's stop changed the job: {refused:?}");
    // Postgres had ended the frozen transaction's session: the worker's first statement
    // after waking failed (the timeout's error, or a broken pipe when it wrote first),
    // a transient fault it retried. The refusal above may come first: a consumer with
    // room for more jobs may have been handed attempt 2 while frozen, and the broker,
    // closing its silent connection, gave both messages to the replacement meanwhile.
    let ended = wait::until("the woken worker's fault", Duration::from_secs(60), || async {
        let log = system.log(&job_id).await?;
        Ok(log.into_iter().find(|entry| {
            entry.attempt == 1
                && entry.actor == "product-upload/frozen"
                && entry.message.starts_with("transient fault: database error")
        }))
    })
    .await?;
    anyhow::ensure!(ended.ignored, "the woken worker's fault changed the job: {ended:?}");
    let log = system.log(&job_id).await?;
    eprintln!(
        "{}: recovered {recovered_after:?} after the freeze (threshold {STALL_THRESHOLD_SECS} s, \
         idle timeout {IDLE_IN_TRANSACTION_TIMEOUT_SECS} s), completed after {completed_after:?}; \
         woken worker refused: {}",
        case.name, refused.message
    );

    assert_attempt_two_applied_every_row_once(system, finished, left.rows_committed, case).await?;
    assert_legal_transitions(&log);
    catalogue_checksum(system, &system.account, &system.client_id).await
}

/// Sends SIGSTOP until the consumer stops inside a transaction (a session of the test's
/// database sits idle in one); returns how many tries that took.
async fn freeze_inside_a_transaction(
    system: &TestSystem,
    consumer: &ServiceProcess,
) -> anyhow::Result<u32> {
    let connection = system.store.connection();
    let idle_in_transaction = Statement::from_string(
        connection.get_database_backend(),
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'idle in transaction' AND state_change < now() - interval '300 milliseconds'",
    );
    for attempt in 1..=FREEZE_TRIES {
        consumer.signal("STOP")?;
        // Long enough for the idle state to be older than the query's 300 ms, far
        // shorter than the stall threshold.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let row = connection.query_one(idle_in_transaction.clone()).await?.context("no count")?;
        if row.try_get_by_index::<i64>(0)? > 0 {
            return Ok(attempt);
        }
        consumer.signal("CONT")?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    anyhow::bail!("the consumer was never frozen inside a transaction in {FREEZE_TRIES} tries")
}

/// Fails unless attempt 2 applied every valid row once: it starts over from row 1, so
/// the rows attempt 1 committed (`committed_by_attempt_one`, bad ones included) count
/// as unchanged and the rest as created, none updated; the client has exactly the
/// valid rows, and the results file one line per input row.
async fn assert_attempt_two_applied_every_row_once(
    system: &TestSystem,
    job: &Job,
    committed_by_attempt_one: u64,
    case: &Case,
) -> anyhow::Result<()> {
    let job_id: JobId = job.job_id.parse()?;
    let valid = valid_rows(ROWS, case.bad_rows);
    let valid_before = valid_rows(committed_by_attempt_one, case.bad_rows);
    let last = system.store.catalog().checkpoint(job_id).await?.context("no final checkpoint")?;
    let counted = (
        last.attempt,
        last.rows_committed,
        last.rows_created,
        last.rows_unchanged,
        last.rows_updated,
        last.rows_rejected,
    );
    let expected = (2, ROWS, valid - valid_before, valid_before, 0, ROWS - valid);
    anyhow::ensure!(
        counted == expected,
        "the checkpoint counts (attempt, committed, created, unchanged, updated, rejected) = \
         {counted:?}, expected {expected:?}"
    );
    let products =
        system.store.catalog().count_products(&system.account, &system.client_id).await?;
    anyhow::ensure!(products == valid, "{products} products, expected {valid}");
    let records = system.results_records(job).await?;
    anyhow::ensure!(
        records.len() as u64 == ROWS + 1,
        "the results file has {} lines for {ROWS} rows and a header",
        records.len()
    );
    Ok(())
}
