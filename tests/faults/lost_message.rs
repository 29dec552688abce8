//! A job message lost after the broker confirmed it (a queue purged, a delayed retry's
//! copy dropped): the job is New, counted as published, and no worker will ever see it.
//! Ingest's sweeper finds it unstarted once its wait has passed with its queue empty,
//! publishes it again and says so in the job's log; a consumer process then runs it,
//! on its first attempt.

use std::time::{Duration, Instant};

use bgjobs_domain::JobType;
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, ensure_completed_on,
};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_messaging::amqp;
use bgjobs_test_support::wait;

use crate::consumer;

const ROWS: u64 = 500;
/// How long a published job may stay unstarted before it is published again.
const UNSTARTED_AFTER: &str = "3";
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_lost_job_message_is_published_again_and_the_job_runs_once() -> anyhow::Result<()> {
    let environment = Environment {
        settings: vec![("BGJOBS_REPUBLISH_UNSTARTED_AFTER_SECS", UNSTARTED_AFTER.to_owned())],
        ..Environment::default()
    };
    // No product-upload consumer yet: the message waits in its queue, to be lost there.
    let options = Options { product_upload_in_process: false };
    let system = TestSystem::start_in(options, environment).await?;
    let checked = lose_and_recover(&system).await;
    system.stop().await?;
    checked
}

async fn lose_and_recover(system: &TestSystem) -> anyhow::Result<()> {
    let job_id = system.submit_products(product_file(ROWS, &[])).await?;
    let (_, amqp_url) = system
        .service_env()
        .find(|(name, _)| *name == "BGJOBS_AMQP_URL")
        .ok_or_else(|| anyhow::anyhow!("the system has no broker URL"))?;
    let connection = amqp::connect(amqp_url).await?;
    let queue = system.names().queue(JobType::ProductUpload);
    // Ingest records the broker's confirm right after it; either way the job counts as
    // published, so only the sweep of unstarted jobs can bring it back.
    wait::until("the job's message to be queued", DEADLINE, || async {
        let stats = amqp::queue_stats(&connection, &queue).await?;
        Ok(stats.is_some_and(|stats| stats.messages == 1).then_some(()))
    })
    .await?;
    let channel = connection.create_channel().await?;
    // On a loaded machine the sweeper may already have queued a second copy: both go.
    let purged = channel.queue_purge(queue.as_str().into(), Default::default()).await?;
    anyhow::ensure!(purged >= 1, "purged no message; the job's was queued");
    let lost_at = Instant::now();

    let _consumer = consumer(system, "product-upload/lost-message", &[])?;
    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let finished = &jobs[0];
    ensure_completed_on(finished, 1)?;
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    let queued_again = log.iter().filter(|entry| entry.message.starts_with("Queued again")).count();
    anyhow::ensure!(queued_again >= 1, "the log does not say the job was queued again: {log:?}");
    assert_applied_once(system, finished, ROWS, ROWS).await?;
    eprintln!(
        "lost message: completed {:?} after its message was purged (unstarted wait \
         {UNSTARTED_AFTER} s), queued again {queued_again} time(s)",
        lost_at.elapsed()
    );
    connection.close(200, "done".into()).await?;
    Ok(())
}
