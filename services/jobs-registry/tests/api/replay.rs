//! ReplayDeadLetter: an operator's replay of a dead-lettered job, over gRPC.

use bgjobs_proto::v1::{EventKind, JobStatus, ReplayDeadLetterRequest};
use tonic::Code;

use crate::events::{event, log_of, wait_for_job};
use crate::helpers::spawn_app;

fn replay(account: &str, job_id: &str, operator: &str, reason: &str) -> ReplayDeadLetterRequest {
    ReplayDeadLetterRequest {
        account_id: account.into(),
        job_id: job_id.into(),
        operator: operator.into(),
        reason: reason.into(),
    }
}

#[tokio::test]
async fn a_replayed_errored_job_is_new_on_its_next_attempt_with_the_operator_in_its_log()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Failed, "S3 unavailable"), None).await?;
    wait_for_job(&app, &job, "the job to fail", |job| job.status() == JobStatus::Error).await?;

    let request = replay("acme", &job.job_id, "oscar", "bucket restored");
    let replayed = app.client.clone().replay_dead_letter(request).await?.into_inner().job;

    let replayed = replayed.expect("the job is answered");
    assert_eq!((replayed.status(), replayed.attempt), (JobStatus::New, 2));
    assert_eq!(replayed.updated_by, "oscar");
    let line = log_of(&app, &job).await?.pop().expect("the replay is logged");
    assert_eq!(line.actor, "oscar");
    assert_eq!(
        line.message,
        "oscar replayed the job from the dead-letter queue: bucket restored; queued as attempt 2"
    );
    app.stop().await
}

#[tokio::test]
async fn a_replay_is_refused_with_a_code_that_says_why() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Started, "Started"), None).await?;
    wait_for_job(&app, &job, "the job to start", |job| job.status() == JobStatus::InProgress)
        .await?;

    let cases = [
        (replay("acme", &job.job_id, "oscar", " "), Code::InvalidArgument, "reason is required"),
        (replay("acme", &job.job_id, "", "why"), Code::InvalidArgument, "operator is required"),
        (replay("globex", &job.job_id, "oscar", "why"), Code::NotFound, "not found"),
        (replay("acme", &job.job_id, "oscar", "why"), Code::FailedPrecondition, "In Progress"),
    ];
    for (request, code, words) in cases {
        let status = app.client.clone().replay_dead_letter(request).await.expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(words), "{status:?}");
    }
    assert_eq!(log_of(&app, &job).await?.len(), 1, "nothing but the Started event is logged");
    app.stop().await
}
