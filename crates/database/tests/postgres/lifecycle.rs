use bgjobs_database::Error;
use bgjobs_database::jobs::RecordOutcome;
use bgjobs_domain::{EventKind, JobId, JobStatus};
use chrono::{Duration, Utc};

use crate::support::{account, counters, event, fresh_store, new_job};

#[tokio::test]
async fn retry_requeues_an_errored_job_on_the_next_attempt() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    let mut failed = event(&acme, job.job_id, (1, 1, 2), EventKind::Failed);
    failed.counters = Some(counters(10, 4));
    store.jobs().record_event(failed).await?;

    let retried = store
        .jobs()
        .retry_job(&acme, job.job_id, "bob", "file fixed")
        .await?
        .expect("the job exists");

    assert_eq!(retried.status, JobStatus::New);
    assert_eq!(retried.attempt, 2);
    assert_eq!(retried.last_applied, None);
    assert_eq!(retried.counters, counters(0, 0));
    assert_eq!(retried.updated_by, "bob");
    assert_eq!(retried.message, "Retried by bob: file fixed");
    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(retried));
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let last = log.last().expect("entries were written");
    assert_eq!((last.status_before, last.status_after), (JobStatus::Error, JobStatus::New));
    assert_eq!((last.actor.as_str(), last.message.as_str()), ("bob", "Retried by bob: file fixed"));

    // The new attempt runs from the start.
    let restarted = event(&acme, job.job_id, (2, 1, 1), EventKind::Started);
    assert!(matches!(
        store.jobs().record_event(restarted).await?,
        bgjobs_database::jobs::RecordOutcome::Applied { status: JobStatus::InProgress, .. }
    ));
    Ok(())
}

#[tokio::test]
async fn only_errored_jobs_of_the_account_can_be_retried() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;

    let result = store.jobs().retry_job(&acme, job.job_id, "bob", "").await;
    let Err(refused @ Error::NotRetryable(_)) = result else { panic!("{result:?}") };
    assert_eq!(refused.to_string(), "only jobs in Error can be retried; this job is New");
    assert_eq!(store.jobs().retry_job(&account("globex"), job.job_id, "bob", "").await?, None);
    assert_eq!(store.jobs().retry_job(&acme, JobId::new(), "bob", "").await?, None);
    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(job));
    Ok(())
}

#[tokio::test]
async fn stale_jobs_are_the_unfinished_ones_without_recent_changes() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    let (queued, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let (running, _) = store.jobs().create_job(new_job(&globex, "alice")).await?;
    store
        .jobs()
        .record_event(event(&globex, running.job_id, (1, 1, 1), EventKind::Started))
        .await?;
    let (done, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, done.job_id, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, done.job_id, (1, 1, 2), EventKind::Completed)).await?;

    let cutoff = Utc::now() + Duration::seconds(1);
    let stalled = store.jobs().stale_jobs(&[JobStatus::InProgress], cutoff, 10).await?;
    let stuck_or_stalled =
        store.jobs().stale_jobs(&[JobStatus::New, JobStatus::InProgress], cutoff, 10).await?;
    let none_yet = store
        .jobs()
        .stale_jobs(&[JobStatus::InProgress], Utc::now() - Duration::hours(1), 10)
        .await?;

    assert_eq!(stalled.iter().map(|job| job.job_id).collect::<Vec<_>>(), vec![running.job_id]);
    assert_eq!(
        stuck_or_stalled.iter().map(|job| job.job_id).collect::<Vec<_>>(),
        vec![queued.job_id, running.job_id]
    );
    assert!(none_yet.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_stalled_job_is_requeued_until_its_last_attempt_then_fails_as_worker_lost()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    let later = Utc::now() + Duration::seconds(1);

    let requeued =
        store.jobs().recover_stalled_job(job.job_id, later, 2).await?.expect("it stalled");
    assert_eq!((requeued.status, requeued.attempt), (JobStatus::New, 2));
    assert_eq!(requeued.message, "worker lost: no event for 0 s; requeued as attempt 2");
    assert_eq!(requeued.updated_by, bgjobs_database::jobs::REGISTRY_ACTOR);
    assert_eq!(requeued.last_applied, None);
    assert_eq!(
        store.jobs().recover_stalled_job(job.job_id, later, 2).await?,
        None,
        "a New job is not stalled"
    );

    store.jobs().record_event(event(&acme, job.job_id, (2, 1, 1), EventKind::Started)).await?;
    assert_eq!(
        store.jobs().recover_stalled_job(job.job_id, Utc::now() - Duration::hours(1), 2).await?,
        None,
        "a job with a recent event is not stalled"
    );
    let later = Utc::now() + Duration::seconds(1);
    let failed = store.jobs().recover_stalled_job(job.job_id, later, 2).await?.expect("it stalled");
    assert_eq!((failed.status, failed.attempt), (JobStatus::Error, 2));
    assert_eq!(failed.message, "worker lost: no event for 0 s after 2 attempts");

    // The lost worker's late event changes nothing.
    let late = event(&acme, job.job_id, (2, 1, 2), EventKind::Completed);
    assert!(matches!(store.jobs().record_event(late).await?, RecordOutcome::Ignored(_)));
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let recoveries: Vec<_> = log
        .iter()
        .filter(|entry| entry.actor == bgjobs_database::jobs::REGISTRY_ACTOR)
        .map(|entry| (entry.status_before, entry.status_after))
        .collect();
    assert_eq!(
        recoveries,
        vec![(JobStatus::InProgress, JobStatus::New), (JobStatus::InProgress, JobStatus::Error)]
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_lettered_attempt_fails_its_job_once_and_an_older_one_changes_nothing()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    let mut note = event(&acme, job.job_id, (1, 1, 2), EventKind::Log);
    note.message = "transient fault: storage unavailable; giving up after 5 retries".to_owned();
    store.jobs().record_event(note).await?;
    let cause = "dead-lettered after 6 deliveries (delivery limit reached)";

    let (failed, changed) = store
        .jobs()
        .fail_dead_lettered(&acme, job.job_id, 1, cause)
        .await?
        .expect("the job exists");
    assert!(changed);
    assert_eq!(failed.status, JobStatus::Error);
    assert_eq!(
        failed.message,
        "dead-lettered after 6 deliveries (delivery limit reached); last report: \
         transient fault: storage unavailable; giving up after 5 retries"
    );
    let (again, changed) = store
        .jobs()
        .fail_dead_lettered(&acme, job.job_id, 1, cause)
        .await?
        .expect("the job exists");
    assert!(!changed);
    assert_eq!(again, failed);

    store.jobs().retry_job(&acme, job.job_id, "bob", "").await?;
    let (retried, changed) = store
        .jobs()
        .fail_dead_lettered(&acme, job.job_id, 1, cause)
        .await?
        .expect("the job exists");
    assert!(!changed, "the dead letter of attempt 1 leaves attempt 2 alone");
    assert_eq!((retried.status, retried.attempt), (JobStatus::New, 2));
    assert_eq!(
        store.jobs().fail_dead_lettered(&account("globex"), job.job_id, 2, cause).await?,
        None
    );
    Ok(())
}

#[tokio::test]
async fn new_jobs_without_a_confirmed_message_are_listed_until_marked_published()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (queued, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let (published, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    assert!(store.jobs().mark_published(published.job_id, 1).await?);
    assert!(!store.jobs().mark_published(JobId::new(), 1).await?, "an unknown job");
    let later = Utc::now() + Duration::seconds(1);

    let ids = |jobs: Vec<bgjobs_database::jobs::Job>| {
        jobs.into_iter().map(|job| job.job_id).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.jobs().unpublished_jobs(later, 10).await?), vec![queued.job_id]);
    assert!(store.jobs().unpublished_jobs(Utc::now() - Duration::hours(1), 10).await?.is_empty());

    // A retried job needs its new attempt published; an older attempt's confirm is not enough.
    store.jobs().mark_published(queued.job_id, 1).await?;
    store.jobs().record_event(event(&acme, queued.job_id, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, queued.job_id, (1, 1, 2), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, queued.job_id, "bob", "").await?;
    let later = Utc::now() + Duration::seconds(1);
    assert_eq!(ids(store.jobs().unpublished_jobs(later, 10).await?), vec![queued.job_id]);
    store.jobs().mark_published(queued.job_id, 1).await?;
    assert_eq!(ids(store.jobs().unpublished_jobs(later, 10).await?), vec![queued.job_id]);
    store.jobs().mark_published(queued.job_id, 2).await?;
    assert!(store.jobs().unpublished_jobs(later, 10).await?.is_empty());
    Ok(())
}
