//! Retry, stall recovery, publishing bookkeeping and dead letters over gRPC.

use std::time::Duration;

use bgjobs_proto::v1::{
    self, EventKind, FailDeadLetteredRequest, JobStatus, ListUnpublishedJobsRequest,
    ListUnstartedJobsRequest, MarkPublishedRequest, RetryJobRequest,
};
use bgjobs_test_support::wait;
use tonic::Code;

use crate::events::{event, log_of, wait_for_job};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn failed_job(app: &TestApp) -> anyhow::Result<v1::Job> {
    let job = app.create_job("acme").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Failed, "S3 unavailable"), None).await?;
    wait_for_job(app, &job, "the job to fail", |job| job.status() == JobStatus::Error).await
}

#[tokio::test]
async fn retry_requeues_an_errored_job_recording_who_asked_and_why() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = failed_job(&app).await?;

    let request = RetryJobRequest {
        account_id: job.account_id.clone(),
        job_id: job.job_id.clone(),
        actor: "bob@example.com".into(),
        reason: "the file was fixed".into(),
    };
    let retried = app.client.clone().retry_job(request).await?.into_inner().job.expect("a job");

    assert_eq!((retried.status(), retried.attempt), (JobStatus::New, 2));
    assert_eq!(retried.updated_by, "bob@example.com");
    assert_eq!(retried.message, "Retried by bob@example.com: the file was fixed");
    let log = log_of(&app, &job).await?;
    let last = log.last().expect("the retry is logged");
    assert_eq!(
        (last.actor.as_str(), last.message.as_str()),
        ("bob@example.com", "Retried by bob@example.com: the file was fixed")
    );
    app.stop().await
}

#[tokio::test]
async fn retry_refuses_unknown_jobs_other_accounts_and_jobs_not_in_error() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let queued = app.create_job("acme").await?;
    let failed = failed_job(&app).await?;

    let refused = app.retry(&queued, "bob").await.expect_err("a New job");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(refused.message(), "only jobs in Error can be retried; this job is New");

    let other_account = v1::Job { account_id: "globex".into(), ..failed.clone() };
    let unknown = v1::Job { job_id: bgjobs_domain::JobId::new().to_string(), ..failed.clone() };
    for job in [other_account, unknown] {
        let refused = app.retry(&job, "bob").await.expect_err("not this account's job");
        assert_eq!(refused.code(), Code::NotFound, "{}", refused.message());
        assert_eq!(refused.message(), format!("job {} not found", job.job_id));
    }
    let refused = app.retry(&failed, " ").await.expect_err("no actor");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(app.get_job("acme", &failed.job_id).await?.status(), JobStatus::Error);
    app.stop().await
}

#[tokio::test]
async fn a_job_whose_worker_goes_silent_is_requeued_then_fails_as_worker_lost() -> anyhow::Result<()>
{
    let app = spawn_app_with(|settings| {
        settings.stalls.threshold = Duration::from_secs(1);
        settings.stalls.max_attempts = 2;
    })
    .await?;
    let job = app.create_job("acme").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Started, "Started"), None).await?;

    let requeued = wait_for_job(&app, &job, "the stalled job to be requeued", |job| {
        job.status() == JobStatus::New && job.attempt == 2
    })
    .await?;
    assert!(requeued.message.starts_with("worker lost: no event for "), "{}", requeued.message);
    assert!(requeued.message.ends_with(" s; requeued as attempt 2"), "{}", requeued.message);
    assert_eq!(requeued.updated_by, "jobs-registry");

    app.publisher.publish(&event(&job, 2, 1, EventKind::Started, "Started again"), None).await?;
    let failed = wait_for_job(&app, &job, "the last attempt to fail", |job| {
        job.status() == JobStatus::Error
    })
    .await?;
    assert!(failed.message.ends_with(" s after 2 attempts"), "{}", failed.message);
    assert_eq!(failed.attempt, 2);

    // The stall detector counted both: the requeue and the failure.
    let expected = [
        r#"bgjobs_registry_stalled_jobs_total{result="requeued"} 1"#,
        r#"bgjobs_registry_stalled_jobs_total{result="failed"} 1"#,
    ];
    let counted = wait::until("both stalls to be counted", Duration::from_secs(10), || async {
        let mut lines = app.metric_lines("bgjobs_registry_stalled_jobs_total").await?;
        lines.sort();
        let mut wanted: Vec<String> = expected.iter().map(|line| (*line).to_owned()).collect();
        wanted.sort();
        Ok((lines == wanted).then_some(()))
    });
    counted.await?;
    app.stop().await
}

#[tokio::test]
async fn unpublished_jobs_are_listed_until_their_attempt_is_marked_published() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let list = |older_than_secs| ListUnpublishedJobsRequest { older_than_secs, limit: 0 };
    let ids = |jobs: Vec<v1::Job>| jobs.into_iter().map(|job| job.job_id).collect::<Vec<_>>();

    let listed = app.client.clone().list_unpublished_jobs(list(0)).await?.into_inner().jobs;
    assert_eq!(ids(listed), vec![job.job_id.clone()]);
    let young = app.client.clone().list_unpublished_jobs(list(3600)).await?.into_inner().jobs;
    assert!(young.is_empty(), "a job registered just now is not listed as old");

    let marked = MarkPublishedRequest { job_id: job.job_id.clone(), attempt: 1 };
    app.client.clone().mark_published(marked).await?;
    let listed = app.client.clone().list_unpublished_jobs(list(0)).await?.into_inner().jobs;
    assert!(listed.is_empty());

    let unknown =
        MarkPublishedRequest { job_id: bgjobs_domain::JobId::new().to_string(), attempt: 1 };
    let refused = app.client.clone().mark_published(unknown).await.expect_err("unknown job");
    assert_eq!(refused.code(), Code::NotFound);
    let too_many = ListUnpublishedJobsRequest { older_than_secs: 0, limit: 501 };
    let refused = app.client.clone().list_unpublished_jobs(too_many).await.expect_err("limit");
    assert_eq!(refused.code(), Code::InvalidArgument);
    app.stop().await
}

#[tokio::test]
async fn published_jobs_that_no_worker_started_are_listed_as_unstarted() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let list = |older_than_secs| ListUnstartedJobsRequest { older_than_secs, limit: 0 };
    let ids = |jobs: Vec<v1::Job>| jobs.into_iter().map(|job| job.job_id).collect::<Vec<_>>();

    let listed = app.client.clone().list_unstarted_jobs(list(0)).await?.into_inner().jobs;
    assert!(listed.is_empty(), "an unpublished job is the other sweep's");
    let marked = MarkPublishedRequest { job_id: job.job_id.clone(), attempt: 1 };
    app.client.clone().mark_published(marked).await?;
    let listed = app.client.clone().list_unstarted_jobs(list(0)).await?.into_inner().jobs;
    assert_eq!(ids(listed), vec![job.job_id.clone()]);
    let young = app.client.clone().list_unstarted_jobs(list(3600)).await?.into_inner().jobs;
    assert!(young.is_empty(), "a job published just now is not listed as old");

    let too_many = ListUnstartedJobsRequest { older_than_secs: 0, limit: 501 };
    let refused = app.client.clone().list_unstarted_jobs(too_many).await.expect_err("limit");
    assert_eq!(refused.code(), Code::InvalidArgument);
    app.stop().await
}

#[tokio::test]
async fn a_dead_lettered_message_fails_its_attempt_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let request = |attempt| FailDeadLetteredRequest {
        account_id: job.account_id.clone(),
        job_id: job.job_id.clone(),
        attempt,
        cause: "dead-lettered after 6 deliveries (delivery limit reached)".into(),
    };

    let failed = app.client.clone().fail_dead_lettered(request(1)).await?.into_inner();
    assert!(failed.changed);
    let failed_job = failed.job.expect("a job");
    assert_eq!(failed_job.status(), JobStatus::Error);
    assert_eq!(failed_job.message, "dead-lettered after 6 deliveries (delivery limit reached)");
    let again = app.client.clone().fail_dead_lettered(request(1)).await?.into_inner();
    assert!(!again.changed, "idempotent");

    let retried = app.retry(&failed_job, "bob").await?;
    let older = app.client.clone().fail_dead_lettered(request(1)).await?.into_inner();
    assert!(!older.changed, "attempt 1's dead letter leaves attempt 2 alone");
    assert_eq!(older.job.expect("a job").status(), retried.status());
    app.stop().await
}
