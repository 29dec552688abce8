//! The results file of a product upload, line by line: one line per input row with
//! its row number, key, outcome and reason; cells a spreadsheet would run as a
//! formula are neutralised.

use std::collections::HashMap;
use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::{Options, TestSystem, job_message};
use bgjobs_proto::convert::job_status_from_proto;
use product_upload::Outcome;

const DEADLINE: Duration = Duration::from_secs(60);

/// One results record from its four cells.
fn record(cells: [&str; 4]) -> Vec<String> {
    cells.into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_file_uploaded_twice_lists_each_row_created_updated_unchanged_or_rejected()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let first = system
        .submit_products("sku,name,price\nSKU-1,One,1.00\nSKU-2,Two,2.00\nSKU-3,Three,3.00\n")
        .await?;
    let first = system.finished_job(&first, DEADLINE).await?;
    assert_eq!(first.message, "3 of 3 rows imported, 0 rejected");
    assert_eq!(
        system.results_text(&first).await?,
        "\"row\",\"key\",\"outcome\",\"reason\"\n\"1\",\"SKU-1\",\"created\",\"\"\n\"2\",\"SKU-2\",\"created\",\"\"\n\"3\",\"SKU-3\",\"created\",\"\"\n"
    );

    // The same file changed: one row as it was, one changed, one new, three bad.
    let second = system
        .submit_products(
            "sku,name,price\n\
             SKU-1,One,1.00\n\
             SKU-2,Two v2,2.50\n\
             SKU-4,Four,4.00\n\
             BAD 5,Five,5.00\n\
             SKU-2,Two again,2.00\n\
             SKU-3,,3.00\n",
        )
        .await?;
    let second = system.finished_job(&second, DEADLINE).await?;
    assert_eq!(job_status_from_proto(second.status), Some(JobStatus::Completed));
    assert_eq!(second.message, "3 of 6 rows imported, 3 rejected");
    assert_eq!(
        system.results_records(&second).await?,
        vec![
            record(["row", "key", "outcome", "reason"]),
            record(["1", "SKU-1", "unchanged", ""]),
            record(["2", "SKU-2", "updated", ""]),
            record(["3", "SKU-4", "created", ""]),
            record([
                "4",
                "BAD 5",
                "rejected",
                "sku: 'BAD 5' contains a space; SKUs may contain letters, digits, '-', '_' and '.'",
            ]),
            record([
                "5",
                "SKU-2",
                "rejected",
                "sku: 'SKU-2' appears again; it was first given in row 2"
            ]),
            record(["6", "SKU-3", "rejected", "name: is required"]),
        ]
    );
    let product =
        system.store.catalog().get_product(&system.account, &system.client_id, "SKU-2").await?;
    assert_eq!(product.map(|product| product.name).as_deref(), Some("Two v2"));
    system.stop().await
}

#[tokio::test]
async fn cells_a_spreadsheet_would_run_as_formulas_are_neutralised() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system
        .submit_products(
            "sku,name\n\
             \"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",Link\n\
             +1,Plus\n\
             -5,Minus\n\
             @cmd,At\n",
        )
        .await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job.message, "1 of 4 rows imported, 3 rejected");
    let allowed = "SKUs may contain letters, digits, '-', '_' and '.'";
    assert_eq!(
        system.results_records(&job).await?,
        vec![
            record(["row", "key", "outcome", "reason"]),
            record([
                "1",
                "'=HYPERLINK(\"http://evil.example\",\"x\")",
                "rejected",
                &format!(
                    "sku: '=HYPERLINK(\"http://evil.example\",\"x\")' contains '='; {allowed}"
                ),
            ]),
            record(["2", "'+1", "rejected", &format!("sku: '+1' contains '+'; {allowed}")]),
            // A valid SKU keeps its value in the catalogue; only the results cell changes.
            record(["3", "'-5", "created", ""]),
            record(["4", "'@cmd", "rejected", &format!("sku: '@cmd' contains '@'; {allowed}")]),
        ]
    );
    assert!(
        system
            .store
            .catalog()
            .get_product(&system.account, &system.client_id, "-5")
            .await?
            .is_some()
    );
    system.stop().await
}

/// A delivery stopped mid-file (a retry, or an attempt superseded by one that already
/// completed) drops its results writer unfinished: the upload is aborted, and the
/// results file stored before stays as it was instead of being replaced by a
/// truncated one.
#[tokio::test]
async fn an_abandoned_results_file_leaves_the_stored_one_alone() -> anyhow::Result<()> {
    use bgjobs_upload::ResultsWriter;

    let objects = bgjobs_test_support::s3::fresh_bucket().await?;
    let key = "results/acme/job-1/results.csv";
    let mut complete = ResultsWriter::start(objects.clone(), key.to_owned())?;
    complete.line(1, "SKU-1", "created", "").await?;
    complete.line(2, "SKU-2", "created", "").await?;
    complete.finish().await?;
    let stored = objects.get_bytes(key).await?;
    assert_eq!(
        stored,
        "\"row\",\"key\",\"outcome\",\"reason\"\n\"1\",\"SKU-1\",\"created\",\"\"\n\"2\",\"SKU-2\",\"created\",\"\"\n"
    );

    let mut stopped = ResultsWriter::start(objects.clone(), key.to_owned())?;
    stopped.line(1, "SKU-1", "applied", "committed by an earlier delivery").await?;
    stopped.abandon().await;
    assert_eq!(objects.get_bytes(key).await?, stored, "the abandoned file replaced the stored one");
    Ok(())
}

/// A copy of a job message taken after the original delivery stored the results file
/// but before the registry applied its Completed (the job still looks running): the copy
/// reports the same end and leaves the results file as the original wrote it.
#[tokio::test]
async fn a_late_copy_of_a_finished_attempt_reports_the_same_end_and_leaves_the_results_alone()
-> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let job_id = system.submit_products("sku,name,price\nSKU-1,One,1.00\nBAD 2,Two,2.00\n").await?;
    let job = system.job(&job_id).await?;
    // A consumer whose events go to a stream the registry does not read: the job stays
    // New whatever the consumer does, as in that window.
    let mut env: HashMap<String, String> =
        system.service_env().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
    let unread_prefix = format!("{}unread.", env["BGJOBS_PREFIX"]);
    env.insert("BGJOBS_PREFIX".to_owned(), unread_prefix.clone());
    let settings =
        product_upload::settings::load(&bgjobs_config::Environment::from_lookup(|name| {
            env.get(name).cloned()
        }))?;
    let processor = product_upload::Worker::build(settings).await?.processor().clone();
    let message = job_message(&job);
    let results_key = bgjobs_domain::object_keys::results(&system.account, job_id.parse()?);
    let expected_end = Outcome::Completed { message: "1 of 2 rows imported, 1 rejected".into() };

    assert_eq!(processor.handle(&message, 1, 0, None).await, expected_end);
    let original = system.objects.get_bytes(&results_key).await?;
    let original_text = String::from_utf8(original.to_vec())?;
    assert!(
        original_text.starts_with("\"row\",\"key\",\"outcome\",\"reason\"\n\"1\",\"SKU-1\",\"created\",\"\"\n\"2\",\"BAD 2\",\"rejected\",\"sku: 'BAD 2'"),
        "{original_text}"
    );
    assert_eq!(processor.handle(&message, 2, 0, None).await, expected_end, "the copy's end");
    assert_eq!(system.objects.get_bytes(&results_key).await?, original, "the copy rewrote it");
    let checkpoint =
        system.store.catalog().checkpoint(job_id.parse()?).await?.expect("a checkpoint");
    assert_eq!((checkpoint.rows_created, checkpoint.rows_unchanged), (1, 0));

    let connection = bgjobs_messaging::amqp::connect(bgjobs_messaging::amqp::DEFAULT_URL).await?;
    let unread = bgjobs_messaging::Names::new(unread_prefix);
    bgjobs_messaging::amqp::delete_topology(&connection, &unread).await?;
    let nats = bgjobs_messaging::events::connect(&system.env_value("BGJOBS_NATS_URL")).await?;
    bgjobs_messaging::events::delete_stream(&nats, &unread).await?;
    system.stop().await
}
