use bgjobs_domain::JobId;
use bgjobs_proto::v1::ListJobEventsRequest;
use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test]
async fn another_accounts_job_is_not_found_exactly_like_an_unknown_one() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let unknown = JobId::new().to_string();

    for job_id in [&job.job_id, &unknown] {
        let status = app.get_job("globex", job_id).await.expect_err("not globex's job");
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), format!("job {job_id} not found"));

        let request =
            ListJobEventsRequest { account_id: "globex".into(), job_id: job_id.to_string() };
        let status = app.client.clone().list_job_events(request).await.expect_err("not globex's");
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), format!("job {job_id} not found"));
    }
    app.stop().await
}

#[tokio::test]
async fn reads_with_a_malformed_id_are_invalid_arguments() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let status = app.get_job("acme", "abc").await.expect_err("not a UUID");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "job_id 'abc' is not a UUID");

    let status = app.get_job("", &JobId::new().to_string()).await.expect_err("no account");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "account_id is required");
    app.stop().await
}
