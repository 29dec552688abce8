use std::time::Duration;

use bgjobs_domain::{AccountId, JobId};
use bgjobs_proto::Message;
use bgjobs_proto::convert::{from_timestamp, timestamp};
use bgjobs_proto::v1::{self, EventKind, JobEvent, JobStatus, ListJobEventsRequest};
use bgjobs_test_support::wait;
use chrono::Utc;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

pub const WORKER: &str = "product-upload/test-host";
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn event(
    job: &v1::Job,
    attempt: u32,
    sequence: u64,
    kind: EventKind,
    message: &str,
) -> JobEvent {
    JobEvent {
        event_id: Uuid::now_v7().to_string(),
        job_id: job.job_id.clone(),
        account_id: job.account_id.clone(),
        attempt,
        sequence,
        occurred_at: Some(timestamp(Utc::now())),
        kind: kind as i32,
        message: message.into(),
        counters: None,
        result_object_key: String::new(),
        worker_id: WORKER.into(),
        delivery: 1,
    }
}

fn counters(total: u64, processed: u64, rejected: u64) -> Option<v1::Counters> {
    Some(v1::Counters { rows_total: total, rows_processed: processed, rows_rejected: rejected })
}

/// Waits until GetJob shows a job on which `done` holds.
pub async fn wait_for_job(
    app: &TestApp,
    job: &v1::Job,
    what: &str,
    done: impl Fn(&v1::Job) -> bool,
) -> anyhow::Result<v1::Job> {
    wait::until(what, DEADLINE, || async {
        let current = app.get_job(&job.account_id, &job.job_id).await?;
        Ok(done(&current).then_some(current))
    })
    .await
}

pub async fn log_of(app: &TestApp, job: &v1::Job) -> anyhow::Result<Vec<v1::LogEntry>> {
    let request =
        ListJobEventsRequest { account_id: job.account_id.clone(), job_id: job.job_id.clone() };
    Ok(app.client.clone().list_job_events(request).await?.into_inner().entries)
}

#[tokio::test]
async fn published_events_move_a_job_to_completed_with_an_ordered_log() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let started = event(&job, 1, 1, EventKind::Started, "Started");
    let progress = JobEvent {
        counters: counters(1000, 500, 1),
        ..event(&job, 1, 2, EventKind::Progress, "500 of 1,000 rows")
    };
    let completed = JobEvent {
        counters: counters(1000, 1000, 2),
        result_object_key: format!("results/acme/{}/results.csv", job.job_id),
        ..event(&job, 1, 3, EventKind::Completed, "998 of 1,000 rows imported, 2 rejected")
    };
    for published in [&started, &progress, &completed] {
        app.publisher.publish(published, None).await?;
    }

    let done =
        wait_for_job(&app, &job, "the job to complete", |job| job.status() == JobStatus::Completed)
            .await?;
    assert_eq!(done.message, "998 of 1,000 rows imported, 2 rejected");
    assert_eq!(done.counters, counters(1000, 1000, 2));
    assert_eq!(done.result_object_key, completed.result_object_key);
    assert_eq!(done.updated_by, WORKER);
    let updated_at = |job: &v1::Job| job.updated_at.as_ref().and_then(from_timestamp);
    assert!(updated_at(&done) > updated_at(&job));

    let log = log_of(&app, &job).await?;
    let lines: Vec<_> = log
        .iter()
        .map(|entry| (entry.event_id.as_str(), entry.status_before(), entry.status_after()))
        .collect();
    assert_eq!(
        lines,
        [
            (started.event_id.as_str(), JobStatus::New, JobStatus::InProgress),
            (progress.event_id.as_str(), JobStatus::InProgress, JobStatus::InProgress),
            (completed.event_id.as_str(), JobStatus::InProgress, JobStatus::Completed),
        ]
    );
    assert!(log.iter().all(|entry| !entry.ignored && entry.actor == WORKER));
    assert_eq!(log[1].kind(), EventKind::Progress);
    assert_eq!(log[1].counters, counters(1000, 500, 1));
    assert_eq!((log[2].attempt, log[2].delivery, log[2].sequence), (1, 1, 3));
    app.stop().await
}

#[tokio::test]
async fn an_event_received_twice_is_logged_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let started = event(&job, 1, 1, EventKind::Started, "Started");

    // Twice through the publisher (JetStream de-duplicates by Nats-Msg-Id), then once
    // without the header, as after the de-duplication window: the registry itself must
    // recognise the event id.
    app.publisher.publish(&started, None).await?;
    app.publisher.publish(&started, None).await?;
    let account = AccountId::parse(&job.account_id)?;
    let job_id: JobId = job.job_id.parse()?;
    let subject = app.names().events_subject(&account, job_id);
    app.nats.publish(subject, started.encode_to_vec().into()).await?;
    app.nats.flush().await?;
    // Events are applied in order: once this one shows, the copies have been handled.
    let marker = event(&job, 1, 2, EventKind::Progress, "marker");
    app.publisher.publish(&marker, None).await?;

    wait_for_job(&app, &job, "the marker event", |job| job.message == "marker").await?;
    let event_ids: Vec<String> =
        log_of(&app, &job).await?.into_iter().map(|entry| entry.event_id).collect();
    assert_eq!(event_ids, [started.event_id, marker.event_id]);
    app.stop().await
}

#[tokio::test]
async fn an_event_of_an_older_attempt_is_logged_as_ignored() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Failed, "S3 unavailable"), None).await?;
    wait_for_job(&app, &job, "the job to fail", |job| job.status() == JobStatus::Error).await?;
    app.retry(&job, "ann").await?;

    let late = event(&job, 1, 2, EventKind::Progress, "late progress of attempt 1");
    app.publisher.publish(&late, None).await?;
    let started = event(&job, 2, 1, EventKind::Started, "Started again");
    app.publisher.publish(&started, None).await?;

    let running = wait_for_job(&app, &job, "attempt 2 to start", |job| {
        job.attempt == 2 && job.status() == JobStatus::InProgress
    })
    .await?;
    assert_eq!(running.message, "Started again");

    let log = log_of(&app, &job).await?;
    let late_entry = log.iter().find(|entry| entry.event_id == late.event_id).expect("logged");
    assert!(late_entry.ignored);
    assert_eq!(late_entry.attempt, 1);
    assert_eq!(
        (late_entry.status_before(), late_entry.status_after()),
        (JobStatus::New, JobStatus::New)
    );
    let started_entry =
        log.iter().find(|entry| entry.event_id == started.event_id).expect("logged");
    assert!(!started_entry.ignored);
    app.stop().await
}

#[tokio::test]
async fn an_event_for_an_unknown_job_or_a_malformed_one_does_not_block_the_next()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let unknown = v1::Job { job_id: JobId::new().to_string(), ..job.clone() };
    app.publisher.publish(&event(&unknown, 1, 1, EventKind::Started, "Started"), None).await?;
    let unspecified_kind = JobEvent { kind: 0, ..event(&job, 1, 1, EventKind::Started, "?") };
    app.publisher.publish(&unspecified_kind, None).await?;
    app.publisher.publish(&event(&job, 1, 2, EventKind::Started, "Started"), None).await?;

    wait_for_job(&app, &job, "the job to start", |job| job.status() == JobStatus::InProgress)
        .await?;
    assert_eq!(log_of(&app, &job).await?.len(), 1);
    app.stop().await
}
