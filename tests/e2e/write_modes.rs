//! Write modes through ingest: `write=create-or-update` (the default),
//! `create-only` and `update-only`; a refused row is rejected with its reason, an
//! unknown mode is refused before anything is stored.

use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_proto::convert::job_status_from_proto;

const DEADLINE: Duration = Duration::from_secs(60);

/// Imports SKU-1 ("Original") with the default mode.
async fn seed(system: &TestSystem) -> anyhow::Result<()> {
    let job_id = system.submit_products("sku,name\nSKU-1,Original\n").await?;
    let job = system.finished_job(&job_id, DEADLINE).await?;
    anyhow::ensure!(job.message == "1 of 1 rows imported, 0 rejected", "{}", job.message);
    Ok(())
}

async fn name_of(system: &TestSystem, sku: &str) -> anyhow::Result<Option<String>> {
    let product =
        system.store.catalog().get_product(&system.account, &system.client_id, sku).await?;
    Ok(product.map(|product| product.name))
}

#[tokio::test]
async fn update_only_rejects_unknown_skus_and_creates_nothing() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    seed(&system).await?;
    let job_id = system
        .submit_products_with("sku,name\nSKU-1,Renamed\nSKU-9,New\n", "&write=update-only")
        .await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "1 of 2 rows imported, 1 rejected");
    assert_eq!(job.counters.unwrap_or_default().rows_rejected, 1);
    assert_eq!(
        system.results_text(&job).await?,
        "row,key,outcome,reason\n\
         1,SKU-1,updated,\n\
         2,SKU-9,rejected,sku: 'SKU-9' does not exist; this upload only updates existing products\n"
    );
    assert_eq!(name_of(&system, "SKU-1").await?.as_deref(), Some("Renamed"));
    assert_eq!(name_of(&system, "SKU-9").await?, None);
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 1);
    system.stop().await
}

#[tokio::test]
async fn create_only_rejects_existing_skus_and_leaves_them_unchanged() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    seed(&system).await?;
    let job_id = system
        .submit_products_with("sku,name\nSKU-1,Renamed\nSKU-2,Two\n", "&write=create-only")
        .await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job.message, "1 of 2 rows imported, 1 rejected");
    assert_eq!(
        system.results_text(&job).await?,
        "row,key,outcome,reason\n\
         1,SKU-1,rejected,sku: 'SKU-1' already exists; this upload only creates new products\n\
         2,SKU-2,created,\n"
    );
    assert_eq!(name_of(&system, "SKU-1").await?.as_deref(), Some("Original"));
    assert_eq!(name_of(&system, "SKU-2").await?.as_deref(), Some("Two"));
    system.stop().await
}

#[tokio::test]
async fn an_all_or_nothing_upload_with_a_row_the_mode_refuses_imports_nothing() -> anyhow::Result<()>
{
    let system = TestSystem::start().await?;
    seed(&system).await?;
    let job_id = system
        .submit_products_with(
            "sku,name\nSKU-1,Renamed\nSKU-9,New\n",
            "&write=update-only&mode=all-or-nothing",
        )
        .await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error));
    assert_eq!(
        job.message,
        "1 of 2 rows are invalid; nothing was imported (all-or-nothing upload)"
    );
    assert_eq!(
        system.results_text(&job).await?,
        "row,key,outcome,reason\n\
         1,SKU-1,skipped,not imported: other rows of this all-or-nothing upload are invalid\n\
         2,SKU-9,rejected,sku: 'SKU-9' does not exist; this upload only updates existing products\n"
    );
    assert_eq!(name_of(&system, "SKU-1").await?.as_deref(), Some("Original"));
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 1);
    system.stop().await
}

#[tokio::test]
async fn an_unknown_write_mode_is_refused_and_nothing_is_registered() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let response = system.upload_products_with("sku,name\nSKU-1,One\n", "&write=upsert").await?;

    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (Some("invalid_request"), Some("write")),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "write 'upsert' is not known; use create-or-update, create-only or update-only"
    );
    let locations = system.upload_locations_with("warehouse,location_code\n", "&write=x").await?;
    assert_eq!(locations.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(system.jobs().await?.is_empty(), "a refused upload registered a job");
    system.stop().await
}

#[tokio::test]
async fn a_create_only_warehouse_upload_rejects_existing_locations() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    let file = "warehouse,location_code,zone\nWH1,A-1,Z1\n";
    let first = system.submit_locations_with(file, "").await?;
    system.finished_job(&first, DEADLINE).await?;

    let second =
        system.submit_locations_with(format!("{file}WH1,A-2,Z1\n"), "&write=create-only").await?;

    let job = system.finished_job(&second, DEADLINE).await?;
    assert_eq!(job.message, "1 of 2 rows imported, 1 rejected");
    assert_eq!(
        system.results_text(&job).await?,
        "row,key,outcome,reason\n\
         1,A-1,rejected,location_code: 'A-1' of warehouse 'WH1' already exists; this upload only creates new locations\n\
         2,A-2,created,\n"
    );
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH1").await?, 2);
    system.stop().await
}

#[tokio::test]
async fn an_all_or_nothing_update_only_warehouse_upload_reports_unknown_and_repeated_locations()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    let seeded = system.submit_locations_with("warehouse,location_code\nWH1,A-1\n", "").await?;
    system.finished_job(&seeded, DEADLINE).await?;

    let job_id = system
        .submit_locations_with(
            "warehouse,location_code,zone\nWH1,A-1,Z1\nWH1,A-2,Z1\nWH1,a-1,Z2\n",
            "&write=update-only&mode=all-or-nothing",
        )
        .await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error));
    assert_eq!(
        job.message,
        "2 of 3 rows are invalid; nothing was imported (all-or-nothing upload)"
    );
    assert_eq!(
        system.results_text(&job).await?,
        "row,key,outcome,reason\n\
         1,A-1,skipped,not imported: other rows of this all-or-nothing upload are invalid\n\
         2,A-2,rejected,location_code: 'A-2' of warehouse 'WH1' does not exist; this upload only updates existing locations\n\
         3,A-1,rejected,location_code: 'A-1' of warehouse 'WH1' appears again; it was first given in row 1\n"
    );
    let location = system.store.catalog().get_location(&system.account, "WH1", "A-1").await?;
    assert_eq!(location.and_then(|location| location.zone), None, "nothing was written");
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH1").await?, 1);
    system.stop().await
}
