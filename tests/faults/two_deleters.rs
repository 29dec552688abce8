//! Two deleters of one client at once: the message of a Delete Client job queued three
//! times (as a publish retried after a lost confirm, a sweeper's republish or a
//! redelivery racing the original can queue it), taken at the same moment by three
//! delete-client consumers, two of them real processes, deleting small batches.

use std::path::Path;
use std::time::{Duration, Instant};

use bgjobs_database::catalog::delete_client::{CLIENTS_TABLE, TableRows};
use bgjobs_database::catalog::{Checkpoint, Product, WriteMode};
use bgjobs_domain::{EventKind, JobId, JobStatus, JobType};
use bgjobs_e2e::invariants::{assert_all_final, assert_legal_transitions, begun_deletions};
use bgjobs_e2e::process::ServiceProcess;
use bgjobs_e2e::{TestSystem, job_message};
use bgjobs_messaging::amqp;
use bgjobs_proto::convert::{event_kind_to_proto, job_status_from_proto};
use bgjobs_proto::v1::LogEntry;
use bgjobs_test_support::wait;

/// The `delete-client` consumer as this package's binary (see `tests/bin`).
const DELETE_CLIENT: &str = env!("CARGO_BIN_EXE_e2e-delete-client");

const PRODUCTS: u64 = 3_000;
/// Rows per deletion batch: many short batches, so the deleters meet often.
const BATCH_ROWS: &str = "10";
/// The copies of the job message in the queue: ingest's and two more.
const COPIES: usize = 3;
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn three_copies_of_a_deletion_run_at_once_delete_the_client_once_and_whole()
-> anyhow::Result<()> {
    let started = Instant::now();
    let system = TestSystem::start().await?;
    let (store, account, client) = (&system.store, &system.account, system.client_id.as_str());
    seed_products(&system).await?;
    let batch = [("BGJOBS_BATCH_SIZE", BATCH_ROWS)];
    let binary = Path::new(DELETE_CLIENT);
    let _first = ServiceProcess::start(binary, &system, "delete-client/first", "faults", &batch)?;
    let _second = ServiceProcess::start(binary, &system, "delete-client/second", "faults", &batch)?;
    let connection = amqp::connect(amqp::DEFAULT_URL).await?;
    let queue = system.names().queue(JobType::DeleteClient);
    // The two processes and the system's own (in-process) delete-client consumer.
    wait::until("three delete-client consumers to attach", DEADLINE, || async {
        let stats = amqp::queue_stats(&connection, &queue).await?;
        Ok(stats.filter(|stats| stats.consumers == 3))
    })
    .await?;

    let job_id = system.submit_delete_client(client, false).await?;
    let message = job_message(&system.job(&job_id).await?);
    let publisher = amqp::JobPublisher::new(&connection, system.names()).await?;
    for _ in 1..COPIES {
        publisher.publish(&message, None).await?;
    }
    let jobs = assert_all_final(&system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let log = wait::until("every copy to end", DEADLINE, || async {
        let log = system.log(&job_id).await?;
        Ok((ended_copies(&log) >= COPIES).then_some(log))
    })
    .await?;
    eprintln!("two deleters: every copy ended {:?} after start", started.elapsed());
    let ends: Vec<(&str, &str)> = log
        .iter()
        .filter(|entry| ended_copies(std::slice::from_ref(entry)) == 1)
        .map(|entry| (entry.actor.as_str(), entry.message.as_str()))
        .collect();
    eprintln!("two deleters: {ends:#?}");

    let job = &jobs[0];
    assert_legal_transitions(&log);
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "Deleted 3,000 products and the client");
    let counters = job.counters.unwrap_or_default();
    assert_eq!((counters.rows_total, counters.rows_processed), (PRODUCTS + 1, PRODUCTS + 1));
    let failed = event_kind_to_proto(EventKind::Failed) as i32;
    assert!(log.iter().all(|entry| entry.kind != failed), "a copy failed: {log:#?}");
    assert_eq!(
        system.results_text(job).await?,
        "\"table\",\"deleted\"\n\"products\",\"3000\"\n\"clients\",\"1\"\n",
        "the results file"
    );

    assert!(!store.catalog().client_exists(account, client).await?, "the client is left");
    assert_eq!(store.catalog().count_products(account, client).await?, 0);
    let job: JobId = job_id.parse()?;
    assert_eq!(
        store.catalog().client_deletion_progress(job, account).await?,
        vec![
            TableRows { table: "products", rows: PRODUCTS },
            TableRows { table: CLIENTS_TABLE, rows: 1 }
        ]
    );
    assert_eq!(
        begun_deletions(&system, client).await?,
        0,
        "the client is still marked as being deleted"
    );
    assert_eq!(amqp::queue_depth(&connection, &queue).await?, 0, "a copy is still queued");
    system.stop().await?;
    eprintln!("two deleters: total {:?}", started.elapsed());
    Ok(())
}

/// Gives the test's client [`PRODUCTS`] products.
async fn seed_products(system: &TestSystem) -> anyhow::Result<()> {
    let rows: Vec<(u64, Product)> = (1..=PRODUCTS)
        .map(|row| {
            let product = Product {
                sku: format!("SKU-{row:06}"),
                name: format!("Product {row}"),
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
            (row, product)
        })
        .collect();
    let seeding = JobId::new();
    for chunk in rows.chunks(1_000) {
        let after = Checkpoint {
            attempt: 1,
            rows_committed: chunk.last().map_or(0, |(row, _)| *row),
            ..Checkpoint::default()
        };
        system
            .store
            .catalog()
            .apply_product_batch_as(
                seeding,
                &system.account,
                &system.client_id,
                chunk,
                WriteMode::CreateOrUpdate,
                &after,
            )
            .await?;
    }
    Ok(())
}

/// How many copies have ended in `log`: each reports Completed or Failed, or stops
/// with a "Stopped, nothing more written" line.
fn ended_copies(log: &[LogEntry]) -> usize {
    let ends =
        [EventKind::Completed, EventKind::Failed].map(|kind| event_kind_to_proto(kind) as i32);
    log.iter()
        .filter(|entry| {
            ends.contains(&entry.kind) || entry.message.starts_with("Stopped, nothing more written")
        })
        .count()
}
