//! A job's events arriving in any order (several registry replicas share the event
//! consumer) reach the same job.

use bgjobs_database::jobs::{Counters, IncomingEvent, Job, LogEntry, RecordOutcome};
use bgjobs_domain::{AccountId, EventKind, IgnoreReason, JobId, JobStatus};

use crate::support::{account, counters, event, fresh_store, new_job};

/// Two deliveries of one attempt: the first dies after a heartbeat, the second
/// resumes and completes.
fn two_deliveries(acme: &AccountId, job: JobId) -> Vec<IncomingEvent> {
    let mut first_progress = event(acme, job, (1, 1, 2), EventKind::Progress);
    first_progress.counters = Some(counters(1_000, 200));
    let mut second_progress = event(acme, job, (1, 2, 2), EventKind::Progress);
    second_progress.counters = Some(counters(1_000, 600));
    let mut completed = event(acme, job, (1, 2, 3), EventKind::Completed);
    completed.message = "1,000 of 1,000 rows imported".to_owned();
    completed.counters =
        Some(Counters { rows_total: 1_000, rows_processed: 1_000, rows_rejected: 0 });
    completed.result_object_key = Some(format!("results/{acme}/{job}/results.csv"));
    completed.worker_id = "worker-b".to_owned();
    vec![
        event(acme, job, (1, 1, 1), EventKind::Started),
        first_progress,
        event(acme, job, (1, 2, 1), EventKind::Started),
        second_progress,
        completed,
    ]
}

/// What must not depend on the order of arrival (the results key with its job id
/// taken out, as the jobs compared differ in that).
fn outcome(job: &Job) -> (JobStatus, String, Counters, Option<String>, String) {
    let key =
        job.result_object_key.as_ref().map(|key| key.replace(&job.job_id.to_string(), "<job>"));
    (job.status, job.message.clone(), job.counters, key, job.updated_by.clone())
}

/// Every permutation of `0..count`, in a fixed order.
fn permutations(count: usize) -> Vec<Vec<usize>> {
    if count == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for shorter in permutations(count - 1) {
        for place in 0..=shorter.len() {
            let mut order = shorter.clone();
            order.insert(place, count - 1);
            all.push(order);
        }
    }
    all
}

/// The log reads as a story: each line starts where the one before left the job.
fn assert_log_is_a_chain(log: &[LogEntry]) {
    let mut status = JobStatus::New;
    for entry in log {
        assert_eq!(entry.status_before, status, "{entry:?} in {log:#?}");
        if entry.ignored {
            assert_eq!(entry.status_after, entry.status_before, "{entry:?}");
        }
        status = entry.status_after;
    }
}

#[tokio::test]
async fn every_order_of_arrival_reaches_the_same_job() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");

    let (reference, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    for incoming in two_deliveries(&acme, reference.job_id) {
        store.jobs().record_event(incoming).await?;
    }
    let expected = store.jobs().get_job(&acme, reference.job_id).await?.expect("the job exists");
    assert_eq!(expected.status, JobStatus::Completed);

    let orders = permutations(5);
    assert_eq!(orders.len(), 120);
    for order in orders {
        let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
        let events = two_deliveries(&acme, job.job_id);
        for &index in &order {
            store.jobs().record_event(events[index].clone()).await?;
        }
        let reached = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
        assert_eq!(outcome(&reached), outcome(&expected), "arrival order {order:?}");
        assert_eq!(reached.last_applied, expected.last_applied, "arrival order {order:?}");
        let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
        assert_eq!(log.len(), 5);
        assert_log_is_a_chain(&log);
        assert!(
            log.iter().all(|entry| entry
                .ignore_reason
                .as_deref()
                .is_none_or(|reason| !reason.contains("held"))),
            "no line is left held once the Started arrived: {log:#?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_completed_before_its_started_is_held_then_applied_after_it() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let mut completed = event(&acme, job.job_id, (1, 1, 2), EventKind::Completed);
    completed.result_object_key = Some(format!("results/acme/{}/results.csv", job.job_id));
    completed.counters = Some(counters(10, 10));

    assert_eq!(
        store.jobs().record_event(completed.clone()).await?,
        RecordOutcome::Ignored(IgnoreReason::AwaitingStart { kind: EventKind::Completed })
    );
    let waiting = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(waiting.status, JobStatus::New);
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(
        log[0].ignore_reason.as_deref(),
        Some("completed event held: it applies once the job's Started event arrives")
    );

    let started = event(&acme, job.job_id, (1, 1, 1), EventKind::Started);
    // The Started releases the held Completed: the job goes from New to Completed at
    // once, with the held event's counters.
    assert!(matches!(
        store.jobs().record_event(started.clone()).await?,
        RecordOutcome::Applied {
            status: JobStatus::Completed,
            from: JobStatus::New,
            final_counters: Some(reported),
            ..
        } if reported == counters(10, 10)
    ));
    let done = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result_object_key, completed.result_object_key);
    assert_eq!(done.counters, counters(10, 10));
    assert_eq!(done.message, "completed 2");

    // The held line now follows the Started it waited for, as an applied line.
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let kinds: Vec<_> = log.iter().map(|entry| (entry.kind, entry.ignored)).collect();
    assert_eq!(kinds, [(EventKind::Started, false), (EventKind::Completed, false)]);
    assert_log_is_a_chain(&log);
    Ok(())
}

#[tokio::test]
async fn an_event_held_when_its_attempt_ends_says_why_it_never_applied() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    // A Progress arrives, its Started not yet; then the attempt's message is
    // dead-lettered (the registry fails the job itself) and the job retried.
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 2), EventKind::Progress)).await?;
    store.jobs().fail_dead_lettered(&acme, job.job_id, 1, "dead-lettered").await?;
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let progress = log.iter().find(|entry| entry.kind == EventKind::Progress).expect("logged");
    assert!(progress.ignored);
    assert_eq!(progress.ignore_reason.as_deref(), Some("progress event ignored: the job is Error"));
    store.jobs().retry_job(&acme, job.job_id, "alice", "").await?.expect("the job exists");

    // A held event of attempt 2 is decided again by its Started, not by attempt 1's.
    store.jobs().record_event(event(&acme, job.job_id, (2, 1, 2), EventKind::Completed)).await?;
    let held = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!((held.status, held.attempt), (JobStatus::New, 2));
    store.jobs().record_event(event(&acme, job.job_id, (2, 1, 1), EventKind::Started)).await?;
    let done = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!((done.status, done.attempt), (JobStatus::Completed, 2));
    Ok(())
}
