//! A Delete Client racing an upload of the same client, through the public interfaces,
//! in each order: whichever is registered first, the client ends deleted with nothing
//! of it left, the deletion counts exactly the products the upload wrote, and nothing
//! fails on a foreign key.

use std::time::Duration;

use bgjobs_database::catalog::delete_client::{CLIENTS_TABLE, TableRows};
use bgjobs_domain::{JobStatus, JobType};
use bgjobs_e2e::TestSystem;
use bgjobs_e2e::invariants::begun_deletions;
use bgjobs_e2e::process::product_file;
use bgjobs_proto::convert::job_status_from_proto;

const ROWS: u64 = 1_000;
const DEADLINE: Duration = Duration::from_secs(60);

/// Which request is sent first.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// The deletion is accepted, then the upload is sent.
    DeletionFirst,
    /// The upload is accepted, then the deletion is sent.
    UploadFirst,
    /// Both are sent at once.
    AtOnce,
}

#[tokio::test]
async fn a_deletion_racing_an_upload_of_its_client_ends_consistently_in_every_order()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let file = product_file(ROWS, &[]);
    for (round, order) in
        [Order::DeletionFirst, Order::UploadFirst, Order::AtOnce].into_iter().enumerate()
    {
        let client = format!("race-{round}");
        system.store.catalog().ensure_client(&system.account, &client, "Racing client").await?;
        let (upload, deletion) = match order {
            Order::DeletionFirst => {
                let deletion = system.request_delete_client(&client, "").await?;
                (upload_for(&system, &client, &file).await?, deletion)
            }
            Order::UploadFirst => {
                let upload = upload_for(&system, &client, &file).await?;
                (upload, system.request_delete_client(&client, "").await?)
            }
            Order::AtOnce => {
                let (upload, deletion) = tokio::join!(
                    upload_for(&system, &client, &file),
                    system.request_delete_client(&client, "")
                );
                (upload?, deletion?)
            }
        };
        let outcome = check_round(&system, &client, upload, deletion).await?;
        eprintln!("deletion race, {order:?}: {outcome}");
    }
    system.stop().await
}

/// Posts the product file for `client`.
async fn upload_for(
    system: &TestSystem,
    client: &str,
    file: &str,
) -> anyhow::Result<reqwest::Response> {
    let url = format!(
        "{}/v1/accounts/{}/jobs/product-upload?client_id={client}",
        system.ingest_url, system.account
    );
    let token = system.user_token(None);
    Ok(system.http.post(url).bearer_auth(token).body(file.to_owned()).send().await?)
}

/// Checks that the round ended consistently; says how the upload ended.
async fn check_round(
    system: &TestSystem,
    client: &str,
    upload: reqwest::Response,
    deletion: reqwest::Response,
) -> anyhow::Result<String> {
    let (store, account) = (&system.store, &system.account);
    assert_eq!(deletion.status(), reqwest::StatusCode::ACCEPTED, "an upload never refuses it");
    let deletion: serde_json::Value = deletion.json().await?;
    let deletion = system.finished_job(deletion["job_id"].as_str().unwrap_or_default(), DEADLINE);
    let deletion = deletion.await?;
    assert_eq!(
        job_status_from_proto(deletion.status),
        Some(JobStatus::Completed),
        "{}",
        deletion.message
    );

    let (outcome, uploaded) = if upload.status() == reqwest::StatusCode::CONFLICT {
        let body: serde_json::Value = upload.json().await?;
        assert_eq!(body["error"]["code"], "client_locked", "{body}");
        let types = [JobType::ProductUpload];
        let registered =
            store.jobs().active_jobs_for_client(account, client, &types, &JobStatus::ALL).await?;
        assert!(registered.is_empty(), "a refused upload was registered: {registered:?}");
        (format!("upload refused: {}", body["error"]["message"]), 0)
    } else {
        assert_eq!(upload.status(), reqwest::StatusCode::ACCEPTED);
        let body: serde_json::Value = upload.json().await?;
        let job_id = body["job_id"].as_str().unwrap_or_default().to_owned();
        let job = system.finished_job(&job_id, DEADLINE).await?;
        let being_deleted = format!(
            "client '{client}' is being deleted (job {}); nothing more was imported",
            deletion.job_id
        );
        let deleted_before = format!(
            "client '{client}' does not exist in account {account}; create the client first"
        );
        let expected = match job_status_from_proto(job.status) {
            Some(JobStatus::Completed) => job.message == "1,000 of 1,000 rows imported, 0 rejected",
            Some(JobStatus::Error) => job.message == being_deleted || job.message == deleted_before,
            _ => false,
        };
        assert!(expected, "the upload ended {:?}: {}", job.status(), job.message);
        let checkpoint = store.catalog().checkpoint(job_id.parse()?).await?;
        let created = checkpoint.map_or(0, |checkpoint| checkpoint.rows_created);
        (format!("upload {:?}, {created} products written: {}", job.status(), job.message), created)
    };

    // The deletion deleted exactly what the upload wrote, and the client row.
    let mut deleted = Vec::new();
    if uploaded > 0 {
        deleted.push(TableRows { table: "products", rows: uploaded });
    }
    deleted.push(TableRows { table: CLIENTS_TABLE, rows: 1 });
    let job = deletion.job_id.parse()?;
    assert_eq!(store.catalog().client_deletion_progress(job, account).await?, deleted);
    assert!(!store.catalog().client_exists(account, client).await?, "the client is left");
    assert_eq!(store.catalog().count_products(account, client).await?, 0, "orphan products");
    assert_eq!(begun_deletions(system, client).await?, 0, "the client is still being deleted");
    Ok(outcome)
}
