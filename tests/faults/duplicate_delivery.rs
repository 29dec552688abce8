//! Scenario 3, the job message: the same job message (same message id
//! `<job id>:<attempt>`), as a publisher that retries after a lost confirm or ingest's
//! republishing sweeper can put it in the queue twice, delivered again while the job
//! runs (a second consumer takes the copy at once) and once more after it completed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bgjobs_domain::{EventKind, JobId, JobStatus, JobType};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Options, TestSystem, job_message};
use bgjobs_messaging::{Names, amqp};
use bgjobs_proto::convert::{event_kind_to_proto, job_status_from_proto};
use bgjobs_proto::v1::LogEntry;
use bgjobs_test_support::wait;

use crate::consumer;

const ROWS: u64 = 20_000;
const BAD_ROWS: [u64; 2] = [3, 15_000];
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_same_job_message_delivered_twice_while_and_after_it_runs_applies_every_row_once()
-> anyhow::Result<()> {
    let file = product_file(ROWS, &BAD_ROWS);
    let started = Instant::now();
    let (checksum, reference) = tokio::join!(duplicated_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("duplicate job message: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

/// How many deliveries have ended in `log`: each reports Completed or Failed, or
/// stops with a "Stopped, nothing more written" line.
fn ended_deliveries(log: &[LogEntry]) -> usize {
    let ends =
        [EventKind::Completed, EventKind::Failed].map(|kind| event_kind_to_proto(kind) as i32);
    log.iter()
        .filter(|entry| {
            ends.contains(&entry.kind) || entry.message.starts_with("Stopped, nothing more written")
        })
        .count()
}

async fn wait_for_ended_deliveries(
    system: &TestSystem,
    job_id: &str,
    expected: usize,
) -> anyhow::Result<Vec<LogEntry>> {
    let what = format!("{expected} deliveries of job {job_id} to end");
    wait::until(&what, DEADLINE, || async {
        let log = system.log(job_id).await?;
        Ok((ended_deliveries(&log) >= expected).then_some(log))
    })
    .await
}

/// Uploads `file` with two consumers running, publishes the job's message again
/// mid-file and once more after the job completed; checks the job and returns the
/// catalogue's checksum.
async fn duplicated_run(file: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let env: HashMap<_, _> = system.service_env().collect();
    let names = Names::new(env["BGJOBS_PREFIX"]);
    let connection = amqp::connect(amqp::DEFAULT_URL).await?;
    let queue = names.queue(JobType::ProductUpload);
    let _first = consumer(&system, "product-upload/first", &[])?;
    let _second = consumer(&system, "product-upload/second", &[])?;
    wait::until("both consumers to attach", DEADLINE, || async {
        let stats = amqp::queue_stats(&connection, &queue).await?;
        Ok(stats.filter(|stats| stats.consumers == 2))
    })
    .await?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let job: JobId = job_id.parse()?;
    let publisher = amqp::JobPublisher::new(&connection, &names).await?;

    let mid_file = wait::until("some but not all rows committed", DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed > 0 && c.rows_committed < ROWS))
    })
    .await?;
    let message = job_message(&system.job(&job_id).await?);
    publisher.publish(&message, None).await?;
    eprintln!(
        "duplicate job message: published again at {} rows committed",
        mid_file.rows_committed
    );
    let jobs = assert_all_final(&system, std::slice::from_ref(&job_id), DEADLINE).await?;
    wait_for_ended_deliveries(&system, &job_id, 2).await?;
    let results_before = system.results_text(&jobs[0]).await?;
    eprintln!("duplicate job message: both deliveries ended {:?} after start", started.elapsed());

    publisher.publish(&message, None).await?;
    let log = wait_for_ended_deliveries(&system, &job_id, 3).await?;
    eprintln!("duplicate job message: the late copy ended {:?} after start", started.elapsed());
    let depth = amqp::queue_depth(&connection, &queue).await?;
    assert_eq!(depth, 0, "a copy of the job message is still queued");

    let finished = system.job(&job_id).await?;
    assert_eq!(
        job_status_from_proto(finished.status),
        Some(JobStatus::Completed),
        "{}",
        finished.message
    );
    assert_eq!(finished, jobs[0], "a copy delivered after the end changed the job");
    assert_legal_transitions(&log);
    // The copy run beside the original was stopped by the checkpoint (whichever of the
    // two fell behind), the late copy by the ended job; neither wrote anything.
    let stopped: Vec<&str> = log
        .iter()
        .filter(|entry| entry.message.starts_with("Stopped, nothing more written"))
        .map(|entry| entry.message.as_str())
        .collect();
    eprintln!("duplicate job message: {stopped:#?}");
    let overtaken =
        format!("Stopped, nothing more written: another delivery of attempt 1 of job {job}");
    let ended = format!(
        "Stopped, nothing more written: attempt 1 of job {job} is superseded (the job is at attempt 1, completed)"
    );
    assert!(
        stopped.len() == 2 && stopped[0].starts_with(&overtaken) && stopped[1].starts_with(&ended),
        "{stopped:#?}"
    );
    assert_applied_once(&system, &finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let results_after = system.results_text(&finished).await?;
    assert!(
        results_after == results_before,
        "a copy delivered after the end rewrote the results file"
    );
    let checksum = catalogue_checksum(&system, &system.account, &system.client_id).await?;
    system.stop().await?;
    Ok(checksum)
}
