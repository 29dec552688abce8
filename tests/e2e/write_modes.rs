//! Write modes through ingest: `write=create-or-update` (the default),
//! `create-only` and `update-only`; a refused row is rejected with its reason, an
//! unknown mode is refused before anything is stored, and a new attempt of a
//! create-only upload keeps the rows its earlier attempt created.

use std::time::Duration;

use anyhow::Context;
use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::RetryJobRequest;
use bgjobs_test_support::wait;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

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
        "\"row\",\"key\",\"outcome\",\"reason\"\n\
         \"1\",\"SKU-1\",\"updated\",\"\"\n\
         \"2\",\"SKU-9\",\"rejected\",\"sku: 'SKU-9' does not exist; this upload only updates existing products\"\n"
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
        "\"row\",\"key\",\"outcome\",\"reason\"\n\
         \"1\",\"SKU-1\",\"rejected\",\"sku: 'SKU-1' already exists; this upload only creates new products\"\n\
         \"2\",\"SKU-2\",\"created\",\"\"\n"
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
        "\"row\",\"key\",\"outcome\",\"reason\"\n\
         \"1\",\"SKU-1\",\"skipped\",\"not imported: other rows of this all-or-nothing upload are invalid\"\n\
         \"2\",\"SKU-9\",\"rejected\",\"sku: 'SKU-9' does not exist; this upload only updates existing products\"\n"
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
        "\"row\",\"key\",\"outcome\",\"reason\"\n\
         \"1\",\"A-1\",\"rejected\",\"location_code: 'A-1' of warehouse 'WH1' already exists; this upload only creates new locations\"\n\
         \"2\",\"A-2\",\"created\",\"\"\n"
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
        "\"row\",\"key\",\"outcome\",\"reason\"\n\
         \"1\",\"A-1\",\"skipped\",\"not imported: other rows of this all-or-nothing upload are invalid\"\n\
         \"2\",\"A-2\",\"rejected\",\"location_code: 'A-2' of warehouse 'WH1' does not exist; this upload only updates existing locations\"\n\
         \"3\",\"A-1\",\"rejected\",\"location_code: 'A-1' of warehouse 'WH1' appears again; it was first given in row 1\"\n"
    );
    let location = system.store.catalog().get_location(&system.account, "WH1", "A-1").await?;
    assert_eq!(location.and_then(|location| location.zone), None, "nothing was written");
    assert_eq!(system.store.catalog().count_locations(&system.account, "WH1").await?, 1);
    system.stop().await
}

/// Rows of the upload interrupted below: enough batches (of 100) that it is stopped
/// mid-file.
const INTERRUPTED_ROWS: u64 = 10_000;

#[tokio::test]
async fn a_create_only_all_or_nothing_upload_interrupted_mid_file_completes_when_retried()
-> anyhow::Result<()> {
    // No delayed retries: the interrupted delivery is dead-lettered and its job fails.
    let settings = vec![("BGJOBS_RETRY_ATTEMPTS", "0".to_owned())];
    let environment = Environment { settings, ..Environment::default() };
    let system = TestSystem::start_in(Options::default(), environment).await?;
    let file = product_file(INTERRUPTED_ROWS, &[]);
    let job_id =
        system.submit_products_with(file, "&write=create-only&mode=all-or-nothing").await?;
    let job: JobId = job_id.parse()?;
    wait::until("the write pass to commit a batch", DEADLINE, || async {
        Ok(system.store.catalog().checkpoint(job).await?.map(|_| ()))
    })
    .await?;
    interrupt_next_batch(&system).await?;
    let failed = wait::until("attempt 1 to fail", DEADLINE, || async {
        let failed = system.job(&job_id).await?;
        match job_status_from_proto(failed.status) {
            Some(JobStatus::Error) => Ok(Some(failed)),
            Some(JobStatus::Completed) => {
                anyhow::bail!("attempt 1 completed before it was interrupted: {}", failed.message)
            }
            _ => Ok(None),
        }
    })
    .await?;
    let left = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    anyhow::ensure!(
        left.rows_committed < INTERRUPTED_ROWS,
        "attempt 1 was not interrupted mid-file: {left:?}; {}",
        failed.message
    );

    let retry = RetryJobRequest {
        account_id: system.account.to_string(),
        job_id: job_id.clone(),
        actor: "ops@example.com".to_owned(),
        reason: "the database is back".to_owned(),
    };
    system.ingest.clone().retry_job(retry).await?;
    let retried = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(
        (job_status_from_proto(retried.status), retried.attempt, retried.message.as_str()),
        (Some(JobStatus::Completed), 2, "10,000 of 10,000 rows imported, 0 rejected")
    );
    // Attempt 2 started over from row 1: attempt 1's rows are its own, unchanged.
    let last = system.store.catalog().checkpoint(job).await?.context("no checkpoint")?;
    assert_eq!(
        (last.attempt, last.rows_created, last.rows_unchanged, last.rows_rejected),
        (2, INTERRUPTED_ROWS - left.rows_committed, left.rows_committed, 0)
    );
    let records = system.results_records(&retried).await?;
    let rejected = records.iter().filter(|record| record[2] == "rejected").count();
    assert_eq!((records.len() as u64, rejected), (INTERRUPTED_ROWS + 1, 0));
    let products =
        system.store.catalog().count_products(&system.account, &system.client_id).await?;
    assert_eq!(products, INTERRUPTED_ROWS);
    system.stop().await
}

/// Holds a lock on `catalog.products` that the upload's next batch must wait for, then
/// ends the session of that waiting batch, as a database failover would: the batch rolls
/// back and its statement fails with a transient fault. Waiting behind the lock makes the
/// interruption certain, however fast the batches are.
async fn interrupt_next_batch(system: &TestSystem) -> anyhow::Result<()> {
    let connection = system.store.connection();
    let backend = connection.get_database_backend();
    let blocker = connection.begin().await?;
    blocker
        .execute(Statement::from_string(backend, "LOCK TABLE catalog.products IN SHARE MODE"))
        .await?;
    let waiting = "SELECT pid FROM pg_locks \
                   WHERE relation = 'catalog.products'::regclass AND NOT granted \
                   AND mode = 'RowExclusiveLock' \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let pids = wait::until("a batch to wait for the lock", DEADLINE, || async {
        let rows = connection.query_all(Statement::from_string(backend, waiting)).await?;
        let pids =
            rows.iter().map(|row| row.try_get_by_index::<i32>(0)).collect::<Result<Vec<_>, _>>()?;
        Ok((!pids.is_empty()).then_some(pids))
    })
    .await?;
    for pid in pids {
        let terminate = Statement::from_sql_and_values(
            backend,
            "SELECT pg_terminate_backend($1)",
            [pid.into()],
        );
        connection.execute(terminate).await?;
    }
    blocker.rollback().await?;
    Ok(())
}
