use bgjobs_database::jobs::RecordOutcome;
use bgjobs_domain::state_machine::{self, Decision};
use bgjobs_domain::{EventKind, EventPosition, IgnoreReason, JobStatus, JobType};
use futures::future::join_all;

use crate::support::{account, counters, event, fresh_store, new_job};

#[tokio::test]
async fn a_job_runs_to_completion_with_its_log_in_order() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;

    let started = event(&acme, job.job_id, (1, 1, 1), EventKind::Started);
    let mut progress = event(&acme, job.job_id, (1, 1, 2), EventKind::Progress);
    progress.counters = Some(counters(1_000, 400));
    let mut quiet_progress = event(&acme, job.job_id, (1, 1, 3), EventKind::Progress);
    quiet_progress.message = String::new();
    let mut completed = event(&acme, job.job_id, (1, 1, 4), EventKind::Completed);
    // The workers' clocks put the end 90 s after the start.
    completed.occurred_at = started.occurred_at + chrono::Duration::seconds(90);
    completed.message = "998 of 1,000 rows imported, 2 rejected".to_owned();
    completed.counters = Some(bgjobs_database::jobs::Counters {
        rows_total: 1_000,
        rows_processed: 1_000,
        rows_rejected: 2,
    });
    completed.result_object_key = Some(format!("results/acme/{}/results.csv", job.job_id));
    completed.worker_id = "worker-b".to_owned();

    assert!(matches!(
        store.jobs().record_event(started.clone()).await?,
        RecordOutcome::Applied { status: JobStatus::InProgress, .. }
    ));
    assert!(matches!(
        store.jobs().record_event(progress.clone()).await?,
        RecordOutcome::Applied { status: JobStatus::InProgress, .. }
    ));
    let after_progress = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(after_progress.counters, counters(1_000, 400));
    assert_eq!(after_progress.message, "progress 2");
    assert!(after_progress.updated_at > job.updated_at);

    store.jobs().record_event(quiet_progress).await?;
    let after_quiet = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(after_quiet.message, "progress 2", "an empty message keeps the last one");
    assert_eq!(after_quiet.counters, counters(1_000, 400), "no counters keep the last ones");

    // The event that ends the job reports the finished job's counters.
    assert_eq!(
        store.jobs().record_event(completed.clone()).await?,
        RecordOutcome::Applied {
            status: JobStatus::Completed,
            from: JobStatus::InProgress,
            job_type: JobType::ProductUpload,
            final_counters: completed.counters,
            ran_for: Some(std::time::Duration::from_secs(90)),
        }
    );
    let finished = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(finished.status, JobStatus::Completed);
    assert_eq!(finished.message, "998 of 1,000 rows imported, 2 rejected");
    assert_eq!(finished.counters, completed.counters.expect("set above"));
    assert_eq!(finished.result_object_key, completed.result_object_key);
    assert_eq!(finished.last_applied, Some(completed.position));
    assert_eq!(finished.updated_by, "worker-b");
    assert_eq!(finished.created_by, "alice");

    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let kinds: Vec<_> = log.iter().map(|entry| entry.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Started, EventKind::Progress, EventKind::Progress, EventKind::Completed]
    );
    let transitions: Vec<_> =
        log.iter().map(|entry| (entry.status_before, entry.status_after)).collect();
    assert_eq!(
        transitions,
        [
            (JobStatus::New, JobStatus::InProgress),
            (JobStatus::InProgress, JobStatus::InProgress),
            (JobStatus::InProgress, JobStatus::InProgress),
            (JobStatus::InProgress, JobStatus::Completed),
        ]
    );
    assert!(log.iter().all(|entry| !entry.ignored && entry.ignore_reason.is_none()));
    assert!(log.windows(2).all(|pair| pair[0].recorded_at < pair[1].recorded_at));
    assert_eq!(log[0].event_id, started.event_id);
    assert_eq!(log[1].counters, progress.counters);
    assert_eq!(log[3].actor, "worker-b");
    assert_eq!(log[3].message, completed.message);
    Ok(())
}

#[tokio::test]
async fn a_duplicate_event_is_reported_and_logged_once() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let started = event(&acme, job.job_id, (1, 1, 1), EventKind::Started);
    store.jobs().record_event(started.clone()).await?;
    let before = store.jobs().get_job(&acme, job.job_id).await?;

    assert_eq!(store.jobs().record_event(started).await?, RecordOutcome::Duplicate);

    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, before);
    assert_eq!(store.jobs().job_events(&acme, job.job_id).await?.map(|log| log.len()), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_late_event_is_logged_as_ignored_and_changes_nothing() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    let mut newer = event(&acme, job.job_id, (1, 1, 5), EventKind::Progress);
    newer.counters = Some(counters(100, 50));
    store.jobs().record_event(newer).await?;
    let before = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");

    let mut late = event(&acme, job.job_id, (1, 1, 3), EventKind::Progress);
    late.counters = Some(counters(100, 30));
    let outcome = store.jobs().record_event(late).await?;

    assert_eq!(outcome, RecordOutcome::Ignored(IgnoreReason::OutOfOrder));
    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(before));
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let last = log.last().expect("three entries");
    assert_eq!(log.len(), 3);
    assert!(last.ignored);
    assert_eq!(last.ignore_reason.as_deref(), Some("late or duplicate event ignored"));
    assert_eq!(
        (last.status_before, last.status_after),
        (JobStatus::InProgress, JobStatus::InProgress)
    );
    assert_eq!(last.counters, Some(counters(100, 30)));
    Ok(())
}

#[tokio::test]
async fn an_event_of_an_older_attempt_is_logged_as_ignored_and_changes_nothing()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, job.job_id, "bob", "").await?;
    let before = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!((before.status, before.attempt), (JobStatus::New, 2));

    let outcome =
        store.jobs().record_event(event(&acme, job.job_id, (1, 2, 1), EventKind::Started)).await?;

    let expected = IgnoreReason::OlderAttempt { event_attempt: 1, current_attempt: 2 };
    assert_eq!(outcome, RecordOutcome::Ignored(expected));
    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(before));
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let last = log.last().expect("entries were written");
    assert!(last.ignored);
    assert_eq!(last.ignore_reason, Some(expected.to_string()));
    Ok(())
}

#[tokio::test]
async fn an_event_for_an_unknown_job_writes_nothing() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;

    let unknown = event(&acme, bgjobs_domain::JobId::new(), (1, 1, 1), EventKind::Started);
    assert_eq!(store.jobs().record_event(unknown).await?, RecordOutcome::UnknownJob);
    // The right job id with the wrong account is unknown too.
    let misdirected = event(&globex, job.job_id, (1, 1, 1), EventKind::Started);
    assert_eq!(store.jobs().record_event(misdirected).await?, RecordOutcome::UnknownJob);

    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(job.clone()));
    assert_eq!(store.jobs().job_events(&acme, job.job_id).await?, Some(Vec::new()));
    Ok(())
}

#[tokio::test]
async fn concurrent_events_for_one_job_leave_a_consistent_state() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let mut events = vec![event(&acme, job.job_id, (1, 1, 1), EventKind::Started)];
    for sequence in 2..20 {
        let mut progress = event(&acme, job.job_id, (1, 1, sequence), EventKind::Progress);
        progress.counters = Some(counters(20, sequence));
        events.push(progress);
    }
    events.push(event(&acme, job.job_id, (1, 1, 20), EventKind::Completed));

    let tasks = events.into_iter().map(|incoming| {
        let store = store.clone();
        tokio::spawn(async move { store.jobs().record_event(incoming).await })
    });
    for result in join_all(tasks).await {
        result??;
    }

    // Replaying the log through the pure state machine must give the stored job.
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(log.len(), 20);
    let mut state = bgjobs_domain::JobState::new_job();
    let mut last_counters = None;
    for entry in &log {
        assert_eq!(entry.status_before, state.status, "log entry {entry:?}");
        match state_machine::apply(&state, entry.position, entry.kind) {
            Decision::Apply { status } => {
                assert!(!entry.ignored, "{entry:?} should have applied");
                state.status = status;
                state.last_applied = Some(entry.position);
                last_counters = entry.counters.or(last_counters);
            }
            Decision::Ignore(_) => {
                // A held line can have been decided again since, with its final reason.
                assert!(entry.ignored, "{entry:?} should have been ignored");
            }
        }
        assert_eq!(entry.status_after, state.status);
    }
    let stored = store.jobs().get_job(&acme, job.job_id).await?.expect("the job exists");
    assert_eq!(stored.state(), state);
    assert_eq!(stored.counters, last_counters.unwrap_or_default());
    assert_eq!(stored.status, JobStatus::Completed);
    // Whatever the order, the job completed: events that came before the Started were
    // held and applied after it. Positions of applied events only ever grow.
    let applied: Vec<EventPosition> =
        log.iter().filter(|entry| !entry.ignored).map(|entry| entry.position).collect();
    assert!(applied.windows(2).all(|pair| pair[0] < pair[1]));
    Ok(())
}

#[tokio::test]
async fn the_same_event_delivered_concurrently_applies_once() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let started = event(&acme, job.job_id, (1, 1, 1), EventKind::Started);

    let tasks = (0..20).map(|_| {
        let store = store.clone();
        let started = started.clone();
        tokio::spawn(async move { store.jobs().record_event(started).await })
    });
    let mut outcomes = Vec::new();
    for result in join_all(tasks).await {
        outcomes.push(result??);
    }

    let applied =
        outcomes.iter().filter(|outcome| matches!(outcome, RecordOutcome::Applied { .. }));
    assert_eq!(applied.count(), 1);
    assert_eq!(outcomes.iter().filter(|outcome| **outcome == RecordOutcome::Duplicate).count(), 19);
    assert_eq!(store.jobs().job_events(&acme, job.job_id).await?.map(|log| log.len()), Some(1));
    Ok(())
}

#[tokio::test]
async fn an_event_naming_another_accounts_results_file_changes_nothing_and_keeps_no_key()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let (acme, globex) = (account("acme"), account("globex"));
    let (victims_job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let (job, _) = store.jobs().create_job(new_job(&globex, "mallory")).await?;
    let foreign_key = format!("results/acme/{}/results.csv", victims_job.job_id);
    // Before its Started, so that it would otherwise be held and applied later.
    let mut foreign = event(&globex, job.job_id, (1, 1, 2), EventKind::Completed);
    foreign.result_object_key = Some(foreign_key);

    let expected = IgnoreReason::ForeignResultKey { kind: EventKind::Completed };
    assert_eq!(store.jobs().record_event(foreign.clone()).await?, RecordOutcome::Ignored(expected));
    assert!(matches!(
        store
            .jobs()
            .record_event(event(&globex, job.job_id, (1, 1, 1), EventKind::Started))
            .await?,
        RecordOutcome::Applied { status: JobStatus::InProgress, .. }
    ));

    let after = store.jobs().get_job(&globex, job.job_id).await?.expect("the job exists");
    assert_eq!(after.status, JobStatus::InProgress);
    assert_eq!(after.result_object_key, None);
    let log = store.jobs().job_events(&globex, job.job_id).await?.expect("the job exists");
    let line = log.iter().find(|line| line.event_id == foreign.event_id).expect("logged");
    assert!(line.ignored);
    assert_eq!(line.ignore_reason.as_deref(), Some(expected.to_string().as_str()));
    Ok(())
}
