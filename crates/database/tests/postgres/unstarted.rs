//! New jobs whose message was confirmed but that no worker started: what ingest's
//! sweeper publishes again, once per wait.

use bgjobs_database::Store;
use bgjobs_database::jobs::Job;
use bgjobs_domain::{EventKind, JobId};
use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{account, event, fresh_store, new_job};

/// Moves the job's last change and last confirmed publish an hour back (`published_at`
/// to NULL when `published` is false, as for a job published before the column existed).
async fn age(store: &Store, job: JobId, published: bool) -> anyhow::Result<()> {
    let connection = store.connection();
    let published_at = if published { "now() - interval '1 hour'" } else { "NULL" };
    let sql = format!(
        "UPDATE jobs.jobs SET updated_at = now() - interval '1 hour', \
         published_at = {published_at} WHERE job_id = $1"
    );
    let values = [job.as_uuid().into()];
    connection
        .execute(Statement::from_sql_and_values(connection.get_database_backend(), sql, values))
        .await?;
    Ok(())
}

async fn unstarted(store: &Store) -> anyhow::Result<Vec<JobId>> {
    let half_an_hour_ago = Utc::now() - Duration::minutes(30);
    let jobs = store.jobs().unstarted_jobs(half_an_hour_ago, 10).await?;
    Ok(jobs.into_iter().map(|job: Job| job.job_id).collect())
}

#[tokio::test]
async fn a_published_job_nobody_started_is_listed_until_it_starts_or_is_published_again()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (never_published, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let (lost, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let (before_the_column, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    let (started, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    for job in [&lost, &before_the_column, &started] {
        store.jobs().mark_published(job.job_id, 1).await?;
    }
    assert_eq!(unstarted(&store).await?, vec![], "everything is recent");

    age(&store, never_published.job_id, false).await?;
    age(&store, lost.job_id, true).await?;
    age(&store, before_the_column.job_id, false).await?;
    store.jobs().record_event(event(&acme, started.job_id, (1, 1, 1), EventKind::Started)).await?;
    age(&store, started.job_id, true).await?;
    let mut listed = unstarted(&store).await?;
    listed.sort();
    let mut expected = vec![lost.job_id, before_the_column.job_id];
    expected.sort();
    assert_eq!(listed, expected, "only published New jobs");

    // Published again: it waits its full time once more before it is listed again.
    store.jobs().mark_published(lost.job_id, 1).await?;
    assert_eq!(unstarted(&store).await?, vec![before_the_column.job_id]);
    Ok(())
}

#[tokio::test]
async fn a_retried_job_is_judged_by_the_publish_of_its_new_attempt() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().mark_published(job.job_id, 1).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 2), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, job.job_id, "bob", "").await?;
    age(&store, job.job_id, true).await?;
    assert_eq!(unstarted(&store).await?, vec![], "attempt 2 is not published: the other sweep's");

    store.jobs().mark_published(job.job_id, 2).await?;
    age(&store, job.job_id, true).await?;
    assert_eq!(unstarted(&store).await?, vec![job.job_id]);
    // A late confirm of attempt 1 is not a publish of the current attempt.
    store.jobs().mark_published(job.job_id, 1).await?;
    assert_eq!(unstarted(&store).await?, vec![job.job_id]);
    Ok(())
}
