//! A job dead-lettered after using its transient retries is replayed by an operator
//! while the fault lasts: the replayed attempt gets its transient retries afresh (they
//! are counted per attempt), so it rides out the rest of the fault and completes.
//! The fault is an object store that stops answering (a proxy throwing its answers
//! away) in front of a consumer process allowed one retry.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bgjobs_domain::{JobId, JobStatus, JobType};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, ensure_completed_on,
};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::proxy::LossyProxy;
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_messaging::amqp;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;
use jobsctl::dlq::{Outcome, ReplayOptions, Selection};

use crate::consumer;

const ROWS: u64 = 500;
/// The shared stack's SeaweedFS S3 gateway.
const S3: &str = "127.0.0.1:8333";
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_replayed_dead_letter_gets_its_transient_retries_afresh() -> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let checked = check_replayed_retries(&system).await;
    system.stop().await?;
    checked
}

async fn check_replayed_retries(system: &TestSystem) -> anyhow::Result<()> {
    let started = Instant::now();
    let proxy = LossyProxy::start(S3.parse::<SocketAddr>()?).await?;
    proxy.deliver_answers();
    let endpoint = proxy.url();
    // One retry, 3 s after the first fault: time to see it and end the fault.
    let settings = [
        ("BGJOBS_S3_ENDPOINT", endpoint.as_str()),
        ("BGJOBS_S3_CONNECT_TIMEOUT_SECS", "1"),
        ("BGJOBS_S3_REQUEST_TIMEOUT_SECS", "1"),
        ("BGJOBS_RETRY_ATTEMPTS", "1"),
        ("BGJOBS_RETRY_BASE_MS", "3000"),
        ("BGJOBS_RETRY_MAX_MS", "3000"),
    ];
    let _consumer = consumer(system, "product-upload/replayed-retries", &settings)?;
    let (_, amqp_url) = system
        .service_env()
        .find(|(name, _)| *name == "BGJOBS_AMQP_URL")
        .ok_or_else(|| anyhow::anyhow!("the system has no broker URL"))?;
    let connection = amqp::connect(amqp_url).await?;
    let queue = system.names().queue(JobType::ProductUpload);
    wait::until("the consumer to consume", DEADLINE, || async {
        let stats = amqp::queue_stats(&connection, &queue).await?;
        Ok(stats.is_some_and(|stats| stats.consumers == 1).then_some(()))
    })
    .await?;

    // The store falls silent before the job starts: attempt 1 uses its retry and is
    // dead-lettered.
    proxy.drop_answers();
    let job_id = system.submit_products(product_file(ROWS, &[])).await?;
    let failed = assert_all_final(system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let failed = &failed[0];
    anyhow::ensure!(
        job_status_from_proto(failed.status) == Some(JobStatus::Error)
            && failed.message.starts_with("dead-lettered"),
        "attempt 1 ended {:?}: {}",
        failed.status(),
        failed.message
    );

    // Replayed while the store is still silent.
    let options = ReplayOptions {
        selection: Selection { job_ids: vec![job_id.parse::<JobId>()?], ..Default::default() },
        operator: "oscar".to_owned(),
        reason: "the object store is being repaired".to_owned(),
        dry_run: false,
        rate: None,
    };
    let mut registry = system.registry_as(bgjobs_identity::Service::Jobsctl);
    let hidden = indicatif::ProgressBar::hidden();
    let names = system.names();
    let report = jobsctl::dlq::replay(&connection, names, &mut registry, &options, &hidden).await?;
    anyhow::ensure!(
        matches!(report.outcomes.as_slice(), [Outcome::Replayed { .. }]),
        "{:?}",
        report.outcomes
    );
    let first_fault = wait::until("attempt 2's first transient fault", DEADLINE, || async {
        let log = system.log(&job_id).await?;
        Ok(log
            .into_iter()
            .find(|entry| entry.attempt == 2 && entry.message.starts_with("transient fault")))
    })
    .await?;
    anyhow::ensure!(
        first_fault.message.contains("; retry 1 of 1 in "),
        "the replayed attempt did not get its retry: {}",
        first_fault.message
    );
    proxy.deliver_answers();

    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let replayed = &jobs[0];
    ensure_completed_on(replayed, 2)?;
    assert_legal_transitions(&system.log(&job_id).await?);
    assert_applied_once(system, replayed, ROWS, ROWS).await?;
    eprintln!(
        "replayed retries: dead-lettered, replayed, retried once and completed on attempt 2 \
         {:?} after start",
        started.elapsed()
    );
    connection.close(200, "done".into()).await?;
    Ok(())
}
