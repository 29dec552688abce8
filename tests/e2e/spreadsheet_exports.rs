//! Files shaped the way spreadsheets and exported templates save them, uploaded
//! through ingest's HTTP API: every column is either imported or named as ignored,
//! every encoding is either decoded or refused naming the likely one, and a file that
//! cannot be read to its end says where and what was imported.

use std::time::Duration;

use bgjobs_database::catalog::warehouse::LocationType;
use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::Job;
use reqwest::StatusCode;

const DEADLINE: Duration = Duration::from_secs(60);

/// Waits for the job and checks it ended in `status`.
async fn ended(system: &TestSystem, job_id: &str, status: JobStatus) -> anyhow::Result<Job> {
    let job = system.finished_job(job_id, DEADLINE).await?;
    anyhow::ensure!(
        job_status_from_proto(job.status) == Some(status),
        "job ended {:?}: {}",
        job.status(),
        job.message
    );
    Ok(job)
}

#[tokio::test]
async fn template_headers_in_camel_case_are_imported_and_their_values_checked() -> anyhow::Result<()>
{
    let system = TestSystem::start().await?;
    let file = "SKU,ProductName,CountryOfOrigin,CommodityCode,Weight-KG,Unit Price\n\
                A-1,Widget,de,8471.30,1.5,9.99\n\
                A-2,Gadget,UK,8471.30,2,19.99\n";
    let job_id = system.submit_products(file).await?;
    let job = ended(&system, &job_id, JobStatus::Completed).await?;
    assert_eq!(job.message, "1 of 2 rows imported, 1 rejected");

    let product =
        system.store.catalog().get_product(&system.account, &system.client_id, "A-1").await?;
    let product = product.ok_or_else(|| anyhow::anyhow!("A-1 was not imported"))?;
    assert_eq!(product.country_of_origin.as_deref(), Some("DE"));
    assert_eq!(product.hs_code.as_deref(), Some("847130"));
    assert_eq!(
        product.weight_kg.map(|weight| weight.normalize().to_string()).as_deref(),
        Some("1.5")
    );
    assert_eq!(product.price.map(|price| price.normalize().to_string()).as_deref(), Some("9.99"));
    let results = system.results_text(&job).await?;
    assert!(
        results.contains("country_of_origin: 'UK' is not an ISO 3166-1 alpha-2 country code"),
        "the CountryOfOrigin column's values are checked: {results}"
    );
    let log = system.log(&job_id).await?;
    assert!(!log.iter().any(|entry| entry.message.starts_with("ignored columns")), "{log:?}");
    system.stop().await
}

#[tokio::test]
async fn a_location_type_column_from_a_template_is_imported() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    let file = "Warehouse,LocationCode,LocationType,Pickable\nWH1,A-01,Bulk,no\n";
    let job_id = system.submit_locations_with(file, "").await?;
    ended(&system, &job_id, JobStatus::Completed).await?;
    let location = system.store.catalog().get_location(&system.account, "WH1", "A-01").await?;
    assert_eq!(location.and_then(|location| location.location_type), Some(LocationType::Bulk));
    system.stop().await
}

#[tokio::test]
async fn columns_the_upload_does_not_read_are_named_in_the_log() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let file = "sku,name,Colour,Supplier\nA-1,Widget,red,ACME\n";
    let job_id = system.submit_products(file).await?;
    let job = ended(&system, &job_id, JobStatus::Completed).await?;
    assert_eq!(job.message, "1 of 1 rows imported, 0 rejected");
    let log = system.log(&job_id).await?;
    let notes: Vec<&str> = log
        .iter()
        .filter(|entry| entry.kind == bgjobs_proto::v1::EventKind::Log as i32)
        .map(|entry| entry.message.as_str())
        .collect();
    assert_eq!(notes, ["ignored columns: Colour, Supplier"]);
    system.stop().await
}

#[tokio::test]
async fn a_file_of_mostly_unknown_columns_is_refused_naming_the_expected_ones() -> anyhow::Result<()>
{
    let system = TestSystem::start().await?;
    let file = "sku,name,Colour,Supplier,Size,Material,Season\nA-1,Widget,red,ACME,L,wool,W\n";
    let job_id = system.submit_products(file).await?;
    let job = ended(&system, &job_id, JobStatus::Error).await?;
    assert_eq!(
        job.message,
        "5 of the header's 7 columns are not columns of this upload ('Colour', 'Supplier', \
         'Size', 'Material', 'Season'); expected columns are sku, name, description, barcode, \
         weight_kg, length_cm, width_cm, height_cm, price, hs_code, country_of_origin. Rename \
         the columns, or remove the ones that do not belong"
    );
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    system.stop().await
}

/// A product file as Excel on Windows saves "CSV": Windows-1252, semicolons, CRLF.
const WINDOWS_1252_FILE: &[u8] =
    b"SKU;Name;Description\r\nA-1;Caf\xe9 cr\xe8me;Cr\xe8me br\xfbl\xe9e \x80 5\r\n";

#[tokio::test]
async fn windows_1252_is_refused_naming_the_encoding_then_imported_when_named() -> anyhow::Result<()>
{
    let system = TestSystem::start().await?;
    let refused = system.upload_products(WINDOWS_1252_FILE).await?;
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(
        body["error"]["message"],
        "the file is not a CSV text file: it is not UTF-8 text, and looks like windows-1252 \
         (Excel on Windows saves CSV so); upload it again with the encoding windows-1252, or \
         save it as CSV UTF-8"
    );
    assert!(system.jobs().await?.is_empty(), "a refused upload leaves no job");

    let job_id = system.submit_products_with(WINDOWS_1252_FILE, "&encoding=windows-1252").await?;
    ended(&system, &job_id, JobStatus::Completed).await?;
    let product =
        system.store.catalog().get_product(&system.account, &system.client_id, "A-1").await?;
    let product = product.ok_or_else(|| anyhow::anyhow!("A-1 was not imported"))?;
    assert_eq!(product.name, "Café crème");
    assert_eq!(product.description.as_deref(), Some("Crème brûlée € 5"));
    let job = system.job(&job_id).await?;
    let parameters: serde_json::Value = serde_json::from_str(&job.parameters_json)?;
    assert_eq!(parameters["encoding"], "windows-1252");
    system.stop().await
}

#[tokio::test]
async fn unicode_text_from_excel_utf16_with_a_byte_order_mark_and_tabs_is_imported()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let text = "SKU\tName\tCountryOfOrigin\r\nA-1\tŁódź, Zoë ☕\tpl\r\n";
    let mut file = vec![0xFF, 0xFE];
    file.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let job_id = system.submit_products(file).await?;
    ended(&system, &job_id, JobStatus::Completed).await?;
    let product =
        system.store.catalog().get_product(&system.account, &system.client_id, "A-1").await?;
    let product = product.ok_or_else(|| anyhow::anyhow!("A-1 was not imported"))?;
    assert_eq!(product.name, "Łódź, Zoë ☕");
    assert_eq!(product.country_of_origin.as_deref(), Some("PL"));
    system.stop().await
}

#[tokio::test]
async fn a_quote_never_closed_fails_the_job_naming_its_line_and_what_was_imported()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let mut file = String::from("sku,name,description\n");
    for row in 1..=5 {
        file.push_str(&format!("A-{row},Product {row},\"two\nlines\"\n"));
    }
    // Row 6 starts on line 12: its name opens a quote that nothing closes.
    file.push_str("A-6,\"Product 6,plain\n");
    for row in 7..=40 {
        file.push_str(&format!("A-{row},Product {row},plain\n"));
    }
    let job_id = system.submit_products(file).await?;
    let job = ended(&system, &job_id, JobStatus::Error).await?;
    assert_eq!(
        job.message,
        "line 12 (row 6) opens a quoted field that is never closed, so the rest of the file \
         was read as one field and not imported; of rows 1 to 5, 5 were imported and 0 \
         rejected; nothing after them was imported"
    );
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 5);
    system.stop().await
}

#[tokio::test]
async fn a_header_without_rows_says_there_is_nothing_to_import() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("sku,name,price\r\n").await?;
    let job = ended(&system, &job_id, JobStatus::Error).await?;
    assert_eq!(
        job.message,
        "the file has a header line but no rows under it; there is nothing to import"
    );
    system.stop().await
}

#[tokio::test]
async fn an_invisible_character_is_named_in_the_results() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("sku,name\nA\u{200B}1,Widget\nA-2,No\u{A0}break\n").await?;
    let job = ended(&system, &job_id, JobStatus::Completed).await?;
    let results = system.results_records(&job).await?;
    assert_eq!(
        results[1][3],
        "sku: 'A<U+200B>1' contains U+200B ZERO WIDTH SPACE; SKUs may contain letters, \
         digits, '-', '_' and '.'"
    );
    assert_eq!(results[2][2], "created", "a no-break space in a name is text");
    system.stop().await
}
