//! A consumer's RabbitMQ connection drops under a running upload while a second
//! consumer replica is up. The broker hands the unacknowledged message to the second
//! one at once (delivery 2) while the first, cut off only from the broker, runs on
//! ahead of it. The registry applies the newest delivery's events; the store must
//! agree: delivery 2 claims the attempt's checkpoint, delivery 1 is stopped at its next
//! write, and the job completes on its first attempt, without waiting for stall
//! recovery (left at its default 300 s).

use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::{JobId, JobType};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    ensure_completed_on, fault_free_checksum, valid_rows,
};
use bgjobs_e2e::private_stack::PrivateRabbit;
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_messaging::amqp;
use bgjobs_test_support::wait;

use crate::consumer;

/// Enough rows that the first consumer is still well inside the file once the second
/// one is consuming (it writes one batch at a time, see `check_dropped_run`).
const ROWS: u64 = 120_000;
const BAD_ROWS: [u64; 2] = [7, 12_345];
/// The consumers' connection name (`bgjobs_messaging::amqp::connect` names it after
/// the program).
const CONSUMER_PROGRAM: &str = "e2e-product-upload";
/// How long the upload may take, the dropped connection included; far below the
/// stall threshold, so a job left to stall recovery fails the scenario.
const FINISH_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_dropped_connection_with_a_second_replica_up_completes_the_job_on_its_first_attempt()
-> anyhow::Result<()> {
    let started = Instant::now();
    let file = product_file(ROWS, &BAD_ROWS);
    let (checksum, reference) = tokio::join!(dropped_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("dropped connection: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// The faulted run on a private RabbitMQ node, so that the test's consumers are the
/// only connections of their name; returns the catalogue's checksum.
async fn dropped_run(file: &str) -> anyhow::Result<String> {
    let (rabbit, took) = PrivateRabbit::start().await?;
    eprintln!("dropped connection: the private node started in {took:?}");
    let environment = Environment { amqp_url: Some(rabbit.url()), ..Environment::default() };
    let options = Options { product_upload_in_process: false };
    let system = TestSystem::start_in(options, environment).await?;
    let checked = check_dropped_run(&system, &rabbit, file).await;
    system.stop().await?;
    checked
}

async fn check_dropped_run(
    system: &TestSystem,
    rabbit: &PrivateRabbit,
    file: &str,
) -> anyhow::Result<String> {
    let started = Instant::now();
    // One batch at a time: the second consumer's process starts while this one
    // imports, and with three batches in flight it could finish the file first.
    let _first = consumer(system, "product-upload/first", &[("BGJOBS_BATCHES_IN_FLIGHT", "1")])?;
    let first_connection =
        wait::until("the first consumer to connect", FINISH_DEADLINE, || async {
            let pids = rabbit.connections_named(CONSUMER_PROGRAM).await?;
            Ok((pids.len() == 1).then(|| pids[0].clone()))
        })
        .await?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let job: JobId = job_id.parse()?;
    wait::until("the first consumer to commit a batch", FINISH_DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed > 0))
    })
    .await?;
    let _second = consumer(system, "product-upload/second", &[])?;
    let connection = amqp::connect(&rabbit.url()).await?;
    let queue = system.names().queue(JobType::ProductUpload);
    wait::until("the second consumer to consume", FINISH_DEADLINE, || async {
        let stats = amqp::queue_stats(&connection, &queue).await?;
        Ok(stats.is_some_and(|stats| stats.consumers == 2).then_some(()))
    })
    .await?;

    let dropped_at = Instant::now();
    rabbit.close_connection(&first_connection).await?;
    let before = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    anyhow::ensure!(before.rows_committed < ROWS, "the first consumer finished before the drop");

    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), FINISH_DEADLINE).await?;
    let finished = &jobs[0];
    ensure_completed_on(finished, 1)?;
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    let taken_over = log
        .iter()
        .find(|entry| entry.message.contains("was taken over by delivery 2"))
        .with_context(|| format!("delivery 1 never stopped for delivery 2: {log:#?}"))?;
    anyhow::ensure!(taken_over.delivery == 1, "the takeover was logged by {taken_over:?}");
    assert_applied_once(system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    eprintln!(
        "dropped connection: dropped at {} rows committed; completed on attempt 1 by delivery 2 \
         {:?} after the drop, {:?} after start",
        before.rows_committed,
        dropped_at.elapsed(),
        started.elapsed()
    );
    connection.close(200, "done".into()).await?;
    catalogue_checksum(system, &system.account, &system.client_id).await
}
