//! A product upload through the public interfaces: ingest's HTTP API in, the
//! registry's gRPC API and the catalogue and results file out.

use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_proto::convert::{job_status_from_proto, job_status_to_proto};
use bgjobs_proto::v1::EventKind;

const DEADLINE: Duration = Duration::from_secs(60);

/// `rows` product rows; the rows numbered in `bad` have a SKU with a space.
fn product_file(rows: u64, bad: &[u64]) -> String {
    let mut file = String::from("sku,name,price,country_of_origin\n");
    for row in 1..=rows {
        let sku = if bad.contains(&row) { format!("BAD {row}") } else { format!("SKU-{row:05}") };
        file.push_str(&format!("{sku},Product {row},{}.99,DE\n", row % 100));
    }
    file
}

#[tokio::test]
async fn a_thousand_row_upload_completes_with_two_rows_rejected() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products(product_file(1000, &[250, 777])).await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "998 of 1,000 rows imported, 2 rejected");
    let counters = job.counters.unwrap_or_default();
    assert_eq!((counters.rows_total, counters.rows_rejected), (1000, 2));

    // The log shows New -> In Progress -> Completed, in that order.
    let log = system.log(&job_id).await?;
    let transitions: Vec<(i32, i32)> = log
        .iter()
        .filter(|entry| !entry.ignored && entry.status_before != entry.status_after)
        .map(|entry| (entry.status_before, entry.status_after))
        .collect();
    let status = |s| job_status_to_proto(s) as i32;
    assert_eq!(
        transitions,
        vec![
            (status(JobStatus::New), status(JobStatus::InProgress)),
            (status(JobStatus::InProgress), status(JobStatus::Completed)),
        ]
    );
    assert_eq!(log.first().map(|entry| entry.kind), Some(EventKind::Started as i32));

    assert_eq!(
        system.store.catalog().count_products(&system.account, &system.client_id).await?,
        998
    );
    // One line per input row, in input order.
    let results = system.results_text(&job).await?;
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines.len(), 1 + 1000);
    assert_eq!(lines[0], "\"row\",\"key\",\"outcome\",\"reason\"");
    assert_eq!(lines[1], "\"1\",\"SKU-00001\",\"created\",\"\"");
    assert_eq!(
        lines[250],
        "\"250\",\"BAD 250\",\"rejected\",\"sku: 'BAD 250' contains a space; SKUs may contain letters, digits, '-', '_' and '.'\""
    );
    assert_eq!(
        lines[777],
        "\"777\",\"BAD 777\",\"rejected\",\"sku: 'BAD 777' contains a space; SKUs may contain letters, digits, '-', '_' and '.'\""
    );
    assert_eq!(lines[1000], "\"1000\",\"SKU-01000\",\"created\",\"\"");
    let created = lines.iter().filter(|line| line.ends_with(",\"created\",\"\"")).count();
    assert_eq!(created, 998);
    system.stop().await
}

#[tokio::test]
async fn an_empty_body_is_refused_by_ingest() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let response = system.upload_products(Vec::<u8>::new()).await?;
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await?;
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("empty"), "{body}");
    system.stop().await
}

#[tokio::test]
async fn a_binary_body_is_refused_as_not_csv() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let png_header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    let response = system.upload_products(png_header).await?;
    assert_eq!(response.status(), reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = response.json().await?;
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("not a CSV"), "{body}");
    system.stop().await
}

#[tokio::test]
async fn a_file_without_a_sku_column_fails_the_job_and_imports_nothing() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("name,price\nWidget,1.00\nGadget,2.00\n").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error));
    assert_eq!(
        job.message,
        "the header has no sku column; required columns are sku, name (found: 'name', 'price')"
    );
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    system.stop().await
}

#[tokio::test]
async fn a_json_body_fails_the_job_naming_the_missing_columns() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("{\"products\": [{\"sku\": \"A1\"}]}").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error));
    assert!(job.message.starts_with("the header has no sku, name columns"), "{}", job.message);
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    system.stop().await
}

#[tokio::test]
async fn an_all_or_nothing_upload_with_bad_rows_imports_nothing_and_reports_them_all()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id =
        system.submit_products_with(product_file(300, &[3, 299]), "&mode=all-or-nothing").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error));
    assert_eq!(
        job.message,
        "2 of 300 rows are invalid; nothing was imported (all-or-nothing upload)"
    );
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    // Every row has its line: the two invalid ones rejected, the valid ones skipped.
    let records = system.results_records(&job).await?;
    assert_eq!(records.len(), 1 + 300);
    let rejected_rows: Vec<&str> = records
        .iter()
        .filter(|record| record[2] == "rejected")
        .map(|record| record[0].as_str())
        .collect();
    assert_eq!(rejected_rows, vec!["3", "299"]);
    assert_eq!(
        records[1],
        [
            "1",
            "SKU-00001",
            "skipped",
            "not imported: other rows of this all-or-nothing upload are invalid"
        ]
    );
    assert_eq!(records.iter().filter(|record| record[2] == "skipped").count(), 298);
    system.stop().await
}

#[tokio::test]
async fn an_all_or_nothing_upload_of_valid_rows_imports_them_all() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id =
        system.submit_products_with(product_file(300, &[]), "&mode=all-or-nothing").await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job.message, "300 of 300 rows imported, 0 rejected");
    assert_eq!(
        system.store.catalog().count_products(&system.account, &system.client_id).await?,
        300
    );
    system.stop().await
}
