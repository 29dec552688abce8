//! Fencing, consumer side: a product-upload delivery whose attempt is superseded in
//! the middle of the file (as the registry's stall recovery does) commits nothing
//! more, reports no end for its old attempt and drops its message.

use std::time::Duration;

use anyhow::Context;
use bgjobs_domain::{EventKind, JobId, JobStatus, JobType};
use bgjobs_e2e::TestSystem;
use bgjobs_messaging::{Names, amqp};
use bgjobs_proto::convert::{event_kind_to_proto, job_status_from_proto};
use bgjobs_test_support::wait;

const ROWS: u64 = 200_000;

fn product_file() -> String {
    let mut file = String::from("sku,name,price\n");
    for row in 1..=ROWS {
        file.push_str(&format!("SKU-{row:06},Product {row},{}.99\n", row % 100));
    }
    file
}

/// Moves `job` to New on its next attempt through the registry's stall recovery (as
/// if the job had been silent too long; no new message is published here: the old
/// delivery is what is tested). It waits for the batches open at the time to commit.
async fn supersede(system: &TestSystem, job: JobId) -> anyhow::Result<()> {
    let stalled_before = chrono::Utc::now() + chrono::Duration::hours(1);
    let recovered = system.store.jobs().recover_stalled_job(job, stalled_before, 5).await?;
    let recovered = recovered.context("the job was not recovered")?;
    anyhow::ensure!(recovered.attempt == 2, "recovered as {recovered:?}");
    Ok(())
}

#[tokio::test]
async fn a_superseded_delivery_stops_mid_file_without_committing_or_ending_the_job()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products(product_file()).await?;
    let job: JobId = job_id.parse()?;
    wait::until("some but not all rows committed", Duration::from_secs(120), || {
        let store = &system.store;
        async move {
            let checkpoint = store.catalog().checkpoint(job).await?;
            Ok(checkpoint.filter(|c| c.rows_committed > 0 && c.rows_committed < ROWS))
        }
    })
    .await?;
    supersede(&system, job).await?;
    // No batch of attempt 1 can commit after the update: this is final.
    let at_supersede = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    assert!(at_supersede.rows_committed < ROWS, "finished before superseded: {at_supersede:?}");
    println!("superseded after {} of {ROWS} rows", at_supersede.rows_committed);

    let stopped = wait::until("the stale delivery to stop", Duration::from_secs(60), || async {
        let log = system.log(&job_id).await?;
        Ok(log.into_iter().find(|entry| entry.message.starts_with("Stopped, nothing more written")))
    })
    .await?;
    assert_eq!(stopped.attempt, 1);
    assert!(stopped.ignored, "{stopped:?}");
    assert!(
        stopped.message.contains(&format!("attempt 1 of job {job} is superseded")),
        "{}",
        stopped.message
    );

    // The message is acked, not requeued: the new attempt has its own.
    let env: std::collections::HashMap<_, _> = system.service_env().collect();
    let names = Names::new(env["BGJOBS_PREFIX"]);
    let connection = amqp::connect(amqp::DEFAULT_URL).await?;
    let queue = names.queue(JobType::ProductUpload);
    wait::until("the old message to be acked", Duration::from_secs(30), || async {
        Ok((amqp::queue_depth(&connection, &queue).await? == 0).then_some(()))
    })
    .await?;

    // Nothing more committed; the products are exactly what the checkpoint counted.
    let after = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    assert_eq!(after, at_supersede);
    let products =
        system.store.catalog().count_products(&system.account, &system.client_id).await?;
    assert_eq!(products, at_supersede.rows_created);
    // No terminal event of attempt 1: the job waits, New, on attempt 2.
    let registered = system.job(&job_id).await?;
    assert_eq!(
        (job_status_from_proto(registered.status), registered.attempt),
        (Some(JobStatus::New), 2)
    );
    let log = system.log(&job_id).await?;
    let end_kinds =
        [EventKind::Completed, EventKind::Failed].map(|kind| event_kind_to_proto(kind) as i32);
    let ends: Vec<_> = log.iter().filter(|entry| end_kinds.contains(&entry.kind)).collect();
    assert!(ends.is_empty(), "an end was reported: {ends:?}");
    system.stop().await
}
