//! Scenario 4: a poison file. A consumer build with a crash bug (the test package's
//! `e2e-crashing-product-upload`, which aborts on one planted SKU) takes the job and
//! dies every time, restarted after each crash as an orchestrator would. RabbitMQ's
//! delivery limit dead-letters the message after exactly `delivery limit + 1`
//! deliveries, the job goes to Error with that cause; then the fixed consumer is
//! deployed, an operator replays the job with `jobsctl dlq replay`, and it completes
//! once.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use bgjobs_domain::{EventKind, JobId, JobStatus, JobType};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_messaging::{Names, amqp};
use bgjobs_proto::convert::{event_kind_to_proto, job_status_from_proto};
use jobsctl::dlq::{Outcome, ReplayOptions, Selection};

use crate::consumer;

/// The consumer with the planted crash (see `tests/bin/crashing_product_upload.rs`).
pub(crate) const CRASHING_PRODUCT_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-crashing-product-upload");

const ROWS: u64 = 5_000;
const BAD_ROWS: [u64; 1] = [4_000];
/// The SKU the crashing consumer aborts on: the file's first row, so that every
/// delivery crashes before it commits anything.
pub(crate) const POISON_SKU: &str = "SKU-000001";
/// SIGABRT, what `std::process::abort` ends the process with.
const SIGABRT: i32 = 6;

#[tokio::test]
async fn a_file_that_crashes_its_consumer_is_dead_lettered_at_the_limit_then_replayed_once()
-> anyhow::Result<()> {
    let file = product_file(ROWS, &BAD_ROWS);
    let started = Instant::now();
    let (checksum, reference) = tokio::join!(poisoned_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("poison file: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

async fn poisoned_run(file: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    // What every service of the system declared its queues with.
    let delivery_limit = amqp::QueueSettings::default().delivery_limit;
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let env: HashMap<_, _> = system.service_env().collect();
    let names = Names::new(env["BGJOBS_PREFIX"]);
    let connection = amqp::connect(amqp::DEFAULT_URL).await?;
    let job_id = system.submit_products(file.to_owned()).await?;

    // Each delivery crashes a fresh consumer; the one after the limit never comes.
    let mut crashes = 0;
    for delivery in 1..=delivery_limit + 1 {
        let worker_id = format!("product-upload/crashing-{delivery}");
        let mut crashing = ServiceProcess::start(
            Path::new(CRASHING_PRODUCT_UPLOAD),
            &system,
            &worker_id,
            "faults",
            &[("BGJOBS_TEST_ONLY_CRASH_ON_SKU", POISON_SKU)],
        )?;
        let (status, _) = crashing.exited(Duration::from_secs(60)).await?;
        assert_eq!(status.signal(), Some(SIGABRT), "delivery {delivery}: {status}");
        crashes += 1;
    }
    let jobs =
        assert_all_final(&system, std::slice::from_ref(&job_id), Duration::from_secs(30)).await?;
    eprintln!("poison file: {crashes} crashes, dead-lettered {:?} after start", started.elapsed());
    let failed = &jobs[0];
    assert_eq!(job_status_from_proto(failed.status), Some(JobStatus::Error), "{}", failed.message);
    let cause = format!(
        "dead-lettered after {} deliveries: the delivery limit was reached",
        delivery_limit + 1
    );
    assert!(failed.message.starts_with(&cause), "the job's message: {}", failed.message);
    assert_eq!(system.dead_lettered(JobType::ProductUpload).await?, 1);
    assert_eq!(amqp::queue_depth(&connection, &names.queue(JobType::ProductUpload)).await?, 0);

    // The fixed consumer is deployed; an operator replays the dead-lettered job.
    let _fixed = consumer(&system, "product-upload/fixed", &[])?;
    let options = ReplayOptions {
        selection: Selection { job_ids: vec![job_id.parse::<JobId>()?], ..Default::default() },
        operator: "oscar".to_owned(),
        reason: "the crash on this file is fixed".to_owned(),
        dry_run: false,
        rate: None,
    };
    let mut registry = system.registry_as(bgjobs_identity::Service::Jobsctl);
    let hidden = indicatif::ProgressBar::hidden();
    let report =
        jobsctl::dlq::replay(&connection, &names, &mut registry, &options, &hidden).await?;
    assert!(
        matches!(report.outcomes.as_slice(), [Outcome::Replayed { .. }]),
        "{:?}",
        report.outcomes
    );
    // The replay put the job back to New on attempt 2 before republishing it.
    let jobs =
        assert_all_final(&system, std::slice::from_ref(&job_id), Duration::from_secs(60)).await?;
    let replayed = &jobs[0];
    assert_eq!(replayed.attempt, 2);
    eprintln!("poison file: replayed and completed {:?} after start", started.elapsed());

    assert_eq!(
        job_status_from_proto(replayed.status),
        Some(JobStatus::Completed),
        "{}",
        replayed.message
    );
    let log = system.log(&job_id).await?;
    assert_legal_transitions(&log);
    // Attempt 1 was delivered exactly limit + 1 times, attempt 2 once.
    let started_kind = event_kind_to_proto(EventKind::Started) as i32;
    let deliveries: Vec<(u32, u32)> = log
        .iter()
        .filter(|entry| entry.kind == started_kind)
        .map(|entry| (entry.attempt, entry.delivery))
        .collect();
    let mut expected: Vec<(u32, u32)> = (1..=delivery_limit + 1).map(|d| (1, d)).collect();
    expected.push((2, 1));
    assert_eq!(deliveries, expected, "(attempt, delivery) of each Started");
    assert_eq!(system.dead_lettered(JobType::ProductUpload).await?, 0);
    assert_applied_once(&system, replayed, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let checksum = catalogue_checksum(&system, &system.account, &system.client_id).await?;
    system.stop().await?;
    Ok(checksum)
}
