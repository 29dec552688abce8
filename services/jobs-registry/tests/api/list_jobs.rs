use bgjobs_domain::JobId;
use bgjobs_proto::v1::{self, ListJobsRequest};
use tonic::Code;

use crate::helpers::{TestApp, create_request, spawn_app};

fn ids(jobs: &[v1::Job]) -> Vec<&str> {
    jobs.iter().map(|job| job.job_id.as_str()).collect()
}

async fn list(app: &TestApp, request: ListJobsRequest) -> anyhow::Result<v1::ListJobsResponse> {
    Ok(app.client.clone().list_jobs(request).await?.into_inner())
}

fn acme() -> ListJobsRequest {
    ListJobsRequest { account_id: "acme".into(), ..Default::default() }
}

#[tokio::test]
async fn list_jobs_pages_through_an_accounts_jobs_newest_first() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.create_job("acme").await?);
    }
    app.create_job("globex").await?;
    let newest_first: Vec<String> = created.iter().rev().map(|job| job.job_id.clone()).collect();

    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = list(&app, ListJobsRequest { page_size: 2, page_token, ..acme() }).await?;
        pages += 1;
        assert!(page.jobs.len() <= 2);
        seen.extend(page.jobs.into_iter().map(|job| job.job_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }

    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);
    app.stop().await
}

#[tokio::test]
async fn list_jobs_combines_filters() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let by_ann = app.create_job_by("acme", "Ann@example.com").await?;
    let by_bob = app.create_job_by("acme", "bob@example.com").await?;
    let delete = app
        .client
        .clone()
        .create_job(v1::CreateJobRequest {
            job_type: v1::JobType::DeleteClient as i32,
            input_object_key: String::new(),
            ..create_request("acme", JobId::new(), "ann.other@example.com")
        })
        .await?
        .into_inner()
        .job
        .expect("a job");

    let ann = list(&app, ListJobsRequest { created_by: "ANN".into(), ..acme() }).await?;
    assert_eq!(ids(&ann.jobs), [delete.job_id.as_str(), by_ann.job_id.as_str()]);

    let ann_uploads = ListJobsRequest {
        created_by: "ann".into(),
        job_types: vec![v1::JobType::ProductUpload as i32],
        statuses: vec![v1::JobStatus::New as i32, v1::JobStatus::Error as i32],
        ..acme()
    };
    assert_eq!(ids(&list(&app, ann_uploads).await?.jobs), [by_ann.job_id.as_str()]);

    let completed = ListJobsRequest { statuses: vec![v1::JobStatus::Completed as i32], ..acme() };
    assert!(list(&app, completed).await?.jobs.is_empty());

    // From is inclusive, To exclusive: [bob's job, the delete job) is bob's job alone.
    let window = ListJobsRequest {
        created_from: by_bob.created_at,
        created_to: delete.created_at,
        ..acme()
    };
    assert_eq!(ids(&list(&app, window).await?.jobs), [by_bob.job_id.as_str()]);
    app.stop().await
}

#[tokio::test]
async fn a_forged_page_token_is_an_invalid_argument() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let request = ListJobsRequest { page_token: "not-a-cursor".into(), ..acme() };

    let status = app.client.clone().list_jobs(request).await.expect_err("forged token");

    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("page_token: "), "{}", status.message());
    app.stop().await
}
