use bgjobs_domain::JobId;
use bgjobs_proto::v1::{self, CreateJobRequest};
use tonic::Code;

use crate::helpers::{create_request, spawn_app};

#[tokio::test]
async fn create_job_registers_a_new_job_on_its_first_attempt() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job_id = JobId::new();

    let response = app
        .client
        .clone()
        .create_job(create_request("acme", job_id, "ann@example.com"))
        .await?
        .into_inner();

    assert!(response.created);
    let job = response.job.expect("a job");
    assert_eq!(job.job_id, job_id.to_string());
    assert_eq!(job.account_id, "acme");
    assert_eq!(job.job_type(), v1::JobType::ProductUpload);
    assert_eq!(job.status(), v1::JobStatus::New);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.created_by, "ann@example.com");
    assert_eq!(job.updated_by, "ann@example.com");
    assert_eq!(job.original_file_name, "products.csv");
    assert_eq!(job.reference_ids.as_ref().map(|ids| ids.user_id.as_str()), Some("u-7"));
    let parameters: serde_json::Value = serde_json::from_str(&job.parameters_json)?;
    assert_eq!(parameters["client_id"], "c-1");
    assert!(job.created_at.is_some() && job.updated_at.is_some());

    assert_eq!(app.get_job("acme", &job.job_id).await?, job);
    app.stop().await
}

#[tokio::test]
async fn create_job_is_idempotent_on_the_job_id() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let request = create_request("acme", JobId::new(), "ann@example.com");

    let first = app.client.clone().create_job(request.clone()).await?.into_inner();
    let again = app.client.clone().create_job(request).await?.into_inner();

    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.job, again.job);
    app.stop().await
}

#[tokio::test]
async fn a_job_id_taken_by_another_account_already_exists() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job_id = JobId::new();
    app.client.clone().create_job(create_request("acme", job_id, "ann")).await?;

    let status = app
        .client
        .clone()
        .create_job(create_request("globex", job_id, "bob"))
        .await
        .expect_err("the id is taken");

    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(!status.message().contains("acme"), "leaks the other account: {}", status.message());
    app.stop().await
}

#[tokio::test]
async fn invalid_create_requests_name_the_field() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let valid = || create_request("acme", JobId::new(), "ann@example.com");
    let cases = [
        (CreateJobRequest { job_id: "abc".into(), ..valid() }, "job_id 'abc' is not a UUID"),
        (CreateJobRequest { job_id: String::new(), ..valid() }, "job_id is required"),
        (CreateJobRequest { account_id: String::new(), ..valid() }, "account_id is required"),
        (
            CreateJobRequest { account_id: "ac me".into(), ..valid() },
            "account_id 'ac me' is not valid",
        ),
        (CreateJobRequest { job_type: 0, ..valid() }, "job_type is required"),
        (CreateJobRequest { created_by: String::new(), ..valid() }, "created_by is required"),
        (
            CreateJobRequest { parameters_json: "[]".into(), ..valid() },
            "parameters_json must be a JSON object",
        ),
    ];
    for (request, expected) in cases {
        let status = app.client.clone().create_job(request).await.expect_err(expected);
        assert_eq!(status.code(), Code::InvalidArgument, "{expected}");
        assert!(status.message().starts_with(expected), "{:?} for {expected:?}", status.message());
    }
    app.stop().await
}

#[tokio::test]
async fn an_upload_for_a_client_being_deleted_fails_its_precondition() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let deletion = app
        .client
        .clone()
        .create_job(CreateJobRequest {
            job_type: v1::JobType::DeleteClient as i32,
            input_object_key: String::new(),
            ..create_request("acme", JobId::new(), "ann@example.com")
        })
        .await?
        .into_inner()
        .job
        .expect("a job");

    let status = app
        .client
        .clone()
        .create_job(create_request("acme", JobId::new(), "bob@example.com"))
        .await
        .expect_err("the client is being deleted");

    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        format!(
            "client 'c-1' is being deleted by job {}; uploads for this client are refused until \
             it finishes",
            deletion.job_id
        )
    );
    app.stop().await
}
