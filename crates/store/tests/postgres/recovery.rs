use bgjobs_domain::{EventKind, JobId, JobStatus};
use bgjobs_store::Error;
use chrono::{Duration, Utc};

use crate::support::{account, counters, event, fresh_store, new_job};

#[tokio::test]
async fn retry_requeues_an_errored_job_on_the_next_attempt() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.create_job(new_job(&acme, "alice")).await?;
    store.record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    let mut failed = event(&acme, job.job_id, (1, 1, 2), EventKind::Failed);
    failed.counters = Some(counters(10, 4));
    store.record_event(failed).await?;

    let retried = store.retry_job(&acme, job.job_id, "bob").await?.expect("the job exists");

    assert_eq!(retried.status, JobStatus::New);
    assert_eq!(retried.attempt, 2);
    assert_eq!(retried.last_applied, None);
    assert_eq!(retried.counters, counters(0, 0));
    assert_eq!(retried.updated_by, "bob");
    assert_eq!(retried.message, "Retry requested by bob; queued as attempt 2");
    assert_eq!(store.get_job(&acme, job.job_id).await?, Some(retried));
    let log = store.job_events(&acme, job.job_id).await?.expect("the job exists");
    let last = log.last().expect("entries were written");
    assert_eq!((last.status_before, last.status_after), (JobStatus::Error, JobStatus::New));
    assert_eq!(last.actor, "bob");

    // The new attempt runs from the start.
    let restarted = event(&acme, job.job_id, (2, 1, 1), EventKind::Started);
    assert_eq!(
        store.record_event(restarted).await?,
        bgjobs_store::jobs::RecordOutcome::Applied { status: JobStatus::InProgress }
    );
    Ok(())
}

#[tokio::test]
async fn only_errored_jobs_of_the_account_can_be_retried() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.create_job(new_job(&acme, "alice")).await?;

    let result = store.retry_job(&acme, job.job_id, "bob").await;
    assert!(matches!(result, Err(Error::NotRetryable(_))), "{result:?}");
    assert_eq!(store.retry_job(&account("globex"), job.job_id, "bob").await?, None);
    assert_eq!(store.retry_job(&acme, JobId::new(), "bob").await?, None);
    assert_eq!(store.get_job(&acme, job.job_id).await?, Some(job));
    Ok(())
}

#[tokio::test]
async fn stale_jobs_are_the_unfinished_ones_without_recent_changes() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    let (queued, _) = store.create_job(new_job(&acme, "alice")).await?;
    let (running, _) = store.create_job(new_job(&globex, "alice")).await?;
    store.record_event(event(&globex, running.job_id, (1, 1, 1), EventKind::Started)).await?;
    let (done, _) = store.create_job(new_job(&acme, "alice")).await?;
    store.record_event(event(&acme, done.job_id, (1, 1, 1), EventKind::Started)).await?;
    store.record_event(event(&acme, done.job_id, (1, 1, 2), EventKind::Completed)).await?;

    let cutoff = Utc::now() + Duration::seconds(1);
    let stalled = store.stale_jobs(&[JobStatus::InProgress], cutoff, 10).await?;
    let stuck_or_stalled =
        store.stale_jobs(&[JobStatus::New, JobStatus::InProgress], cutoff, 10).await?;
    let none_yet =
        store.stale_jobs(&[JobStatus::InProgress], Utc::now() - Duration::hours(1), 10).await?;

    assert_eq!(stalled.iter().map(|job| job.job_id).collect::<Vec<_>>(), vec![running.job_id]);
    assert_eq!(
        stuck_or_stalled.iter().map(|job| job.job_id).collect::<Vec<_>>(),
        vec![queued.job_id, running.job_id]
    );
    assert!(none_yet.is_empty());
    Ok(())
}
