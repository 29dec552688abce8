//! Object keys are derived from the account and the job id: a key another caller or
//! publisher names is checked against the derived one, and one that differs is refused.

use bgjobs_domain::JobId;
use bgjobs_proto::v1::{EventKind, JobEvent, JobStatus};
use tonic::Code;

use crate::events::{event, log_of, wait_for_job};
use crate::helpers::{create_request, spawn_app};

#[tokio::test]
async fn create_job_naming_another_accounts_input_file_is_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let victims_job = app.create_job("acme").await?;
    let job_id = JobId::new();
    let foreign_keys = [
        // Another account's file, under this job's id and under its own.
        format!("uploads/acme/{job_id}/input.csv"),
        victims_job.input_object_key.clone(),
        // The caller's own account, but another job's file.
        format!("uploads/globex/{}/input.csv", victims_job.job_id),
    ];

    for foreign_key in foreign_keys {
        let request = create_request("globex", job_id, "mallory@globex.example");
        let status = app
            .client
            .clone()
            .create_job(bgjobs_proto::v1::CreateJobRequest {
                input_object_key: foreign_key.clone(),
                ..request
            })
            .await
            .expect_err("a key that is not the job's own");
        assert_eq!(status.code(), Code::InvalidArgument, "{foreign_key}");
        assert_eq!(
            status.message(),
            format!(
                "input_object_key '{foreign_key}' is not this job's input file; its key is \
                 'uploads/globex/{job_id}/input.csv' (made from the account and the job id)"
            )
        );
    }

    let status = app.get_job("globex", &job_id.to_string()).await.expect_err("nothing registered");
    assert_eq!(status.code(), Code::NotFound);
    let own = app.client.clone().create_job(create_request("globex", job_id, "ann")).await?;
    let own = own.into_inner().job.expect("a job");
    assert_eq!(own.input_object_key, format!("uploads/globex/{job_id}/input.csv"));
    app.stop().await
}

#[tokio::test]
async fn an_event_naming_another_accounts_results_file_changes_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let victims_job = app.create_job("acme").await?;
    let job = app.create_job("globex").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Started, "Started"), None).await?;
    let foreign = JobEvent {
        result_object_key: format!("results/acme/{}/results.csv", victims_job.job_id),
        ..event(&job, 1, 2, EventKind::Completed, "1 of 1 rows imported")
    };
    app.publisher.publish(&foreign, None).await?;
    // Events are applied in order: once this one shows, the foreign one was handled.
    let marker = event(&job, 1, 3, EventKind::Progress, "marker");
    app.publisher.publish(&marker, None).await?;

    let after = wait_for_job(&app, &job, "the marker event", |job| job.message == "marker").await?;
    assert_eq!(after.status(), JobStatus::InProgress);
    assert_eq!(after.result_object_key, "");
    let log = log_of(&app, &job).await?;
    let refused = log.iter().find(|entry| entry.event_id == foreign.event_id).expect("logged");
    assert!(refused.ignored);
    assert_eq!(
        refused.ignore_reason,
        "completed event ignored: its results key is not this job's results file"
    );
    assert_eq!(
        (refused.status_before(), refused.status_after()),
        (JobStatus::InProgress, JobStatus::InProgress)
    );

    // The job's own key still completes it.
    let own_key = format!("results/globex/{}/results.csv", job.job_id);
    let completed = JobEvent {
        result_object_key: own_key.clone(),
        ..event(&job, 1, 4, EventKind::Completed, "1 of 1 rows imported")
    };
    app.publisher.publish(&completed, None).await?;
    let done =
        wait_for_job(&app, &job, "the job to complete", |job| job.status() == JobStatus::Completed)
            .await?;
    assert_eq!(done.result_object_key, own_key);
    app.stop().await
}

#[tokio::test]
async fn a_failure_naming_another_accounts_results_file_changes_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let victims_job = app.create_job("acme").await?;
    let job = app.create_job("globex").await?;
    let foreign = JobEvent {
        result_object_key: format!("results/acme/{}/results.csv", victims_job.job_id),
        ..event(&job, 1, 1, EventKind::Failed, "all or nothing: 1 row invalid")
    };
    app.publisher.publish(&foreign, None).await?;
    let marker = event(&job, 1, 2, EventKind::Started, "marker");
    app.publisher.publish(&marker, None).await?;

    let after = wait_for_job(&app, &job, "the marker event", |job| job.message == "marker").await?;
    assert_eq!(after.status(), JobStatus::InProgress, "the Failed event was applied");
    assert_eq!(after.result_object_key, "");
    app.stop().await
}
