//! Delete Client through the public interfaces: ingest's HTTP API in, the
//! registry's gRPC API, the catalogue and the results file out.

use std::time::Duration;

use bgjobs_database::Store;
use bgjobs_database::catalog::{Checkpoint, Product, WriteMode};
use bgjobs_domain::{AccountId, JobId, JobStatus};
use bgjobs_e2e::TestSystem;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::{Job, JobMessage};
use delete_client::Outcome;

const DEADLINE: Duration = Duration::from_secs(60);

/// `rows` valid product rows.
fn product_file(rows: u64) -> String {
    let mut file = String::from("sku,name,price\n");
    for row in 1..=rows {
        file.push_str(&format!("SKU-{row:05},Product {row},{}.50\n", row % 50));
    }
    file
}

/// Creates `client_id` of `account` with `count` products, straight in the catalogue.
async fn seed_client(
    store: &Store,
    account: &AccountId,
    client_id: &str,
    count: u64,
) -> anyhow::Result<()> {
    store.catalog().ensure_client(account, client_id, "Seeded client").await?;
    let products: Vec<(u64, Product)> = (1..=count)
        .map(|n| {
            let product = Product {
                sku: format!("S-{n}"),
                name: format!("Seeded {n}"),
                description: None,
                barcode: None,
                weight_kg: None,
                length_cm: None,
                width_cm: None,
                height_cm: None,
                price: None,
                hs_code: None,
                country_of_origin: None,
            };
            (n, product)
        })
        .collect();
    let after = Checkpoint { attempt: 1, rows_committed: count, ..Checkpoint::default() };
    let write = WriteMode::CreateOrUpdate;
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), account, client_id, &products, write, &after)
        .await?;
    Ok(())
}

fn status(job: &Job) -> Option<JobStatus> {
    job_status_from_proto(job.status)
}

async fn results_file(system: &TestSystem, job: &Job) -> anyhow::Result<String> {
    Ok(String::from_utf8(system.objects.get_bytes(&job.result_object_key).await?.to_vec())?)
}

#[tokio::test]
async fn a_dry_run_reports_a_deletion_deletes_only_that_client_and_a_repeat_changes_nothing()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let upload = system.submit_products(product_file(250)).await?;
    let uploaded = system.finished_job(&upload, DEADLINE).await?;
    assert_eq!(uploaded.message, "250 of 250 rows imported, 0 rejected");
    let other_account = AccountId::parse(&format!("{}-other", system.account))?;
    seed_client(&system.store, &system.account, "globex", 3).await?;
    seed_client(&system.store, &other_account, &system.client_id, 4).await?;

    // A dry run reports and changes nothing.
    let dry_run = system.submit_delete_client(&system.client_id, true).await?;
    let job = system.finished_job(&dry_run, DEADLINE).await?;
    assert_eq!(status(&job), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "Dry run: would delete 250 products and the client 'ACME Corp'");
    assert_eq!(
        results_file(&system, &job).await?,
        "\"table\",\"would_delete\"\n\"products\",\"250\"\n\"clients\",\"1\"\n"
    );
    assert_eq!(
        system.store.catalog().count_products(&system.account, &system.client_id).await?,
        250
    );
    assert!(system.store.catalog().client_exists(&system.account, &system.client_id).await?);

    // For real: the client and its products go, nobody else's.
    let deletion = system.submit_delete_client(&system.client_id, false).await?;
    let job = system.finished_job(&deletion, DEADLINE).await?;
    assert_eq!(status(&job), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "Deleted 250 products and the client");
    let counters = job.counters.unwrap_or_default();
    assert_eq!((counters.rows_total, counters.rows_processed), (251, 251));
    assert_eq!(
        results_file(&system, &job).await?,
        "\"table\",\"deleted\"\n\"products\",\"250\"\n\"clients\",\"1\"\n"
    );
    assert_eq!(job.reference_ids.unwrap_or_default().client_id, system.client_id);
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    assert!(!system.store.catalog().client_exists(&system.account, &system.client_id).await?);
    assert_eq!(system.store.catalog().count_products(&system.account, "globex").await?, 3);
    assert_eq!(system.store.catalog().count_products(&other_account, &system.client_id).await?, 4);
    assert!(system.store.catalog().client_exists(&other_account, &system.client_id).await?);

    // Again: nothing changes, and the job names the deletion that already happened.
    let repeat = system.submit_delete_client(&system.client_id, false).await?;
    let job = system.finished_job(&repeat, DEADLINE).await?;
    assert_eq!(status(&job), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(
        job.message,
        format!(
            "Deleted nothing; client '{}' was already deleted by job {deletion}",
            system.client_id
        )
    );
    assert_eq!(
        results_file(&system, &job).await?,
        "\"table\",\"deleted\"\n\"products\",\"0\"\n\"clients\",\"0\"\n"
    );
    assert_eq!(system.store.catalog().count_products(&system.account, "globex").await?, 3);
    assert_eq!(system.store.catalog().count_products(&other_account, &system.client_id).await?, 4);

    // A client that never existed is more likely a mistyped id: that fails, clearly.
    let mistyped = system.submit_delete_client("acmee", false).await?;
    let job = system.finished_job(&mistyped, DEADLINE).await?;
    assert_eq!(status(&job), Some(JobStatus::Error));
    assert_eq!(job.message, format!("client 'acmee' does not exist in account {}", system.account));
    system.stop().await
}

#[tokio::test]
async fn a_redelivered_deletion_resumes_and_counts_every_row_once() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    seed_client(&system.store, &system.account, "initech", 5).await?;
    let job = JobId::new();
    // An earlier delivery committed one batch of two products, then died.
    system.store.catalog().delete_client_batch(job, 1, &system.account, "initech", 2).await?;
    let message = JobMessage {
        job_id: job.to_string(),
        account_id: system.account.to_string(),
        job_type: bgjobs_proto::v1::JobType::DeleteClient as i32,
        attempt: 1,
        parameters_json: r#"{"client_id": "initech", "dry_run": false}"#.to_owned(),
        created_by: "tester".to_owned(),
        ..JobMessage::default()
    };

    let expected = Outcome::Completed { message: "Deleted 5 products and the client".to_owned() };
    assert_eq!(system.delete_client.handle(&message, 2, 0, None).await, expected);
    assert!(!system.store.catalog().client_exists(&system.account, "initech").await?);
    // Delivered once more after everything was deleted (say the ack was lost): the
    // job is done, not "unknown client".
    assert_eq!(system.delete_client.handle(&message, 3, 0, None).await, expected);
    system.stop().await
}

#[tokio::test]
async fn a_bad_dry_run_value_is_refused_by_ingest() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let response = system.request_delete_client(&system.client_id, "&dry_run=maybe").await?;
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (Some("invalid_request"), Some("dry_run")),
        "{body}"
    );
    system.stop().await
}
