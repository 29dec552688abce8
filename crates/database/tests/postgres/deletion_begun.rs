//! A deletion that has begun guards its client's data: product batches are refused
//! from then on, and a batch committed before it began is deleted with the rest.

use std::time::Duration;

use bgjobs_database::catalog::delete_client::{CLIENTS_TABLE, DeleteStep, TableRows};
use bgjobs_database::catalog::{Product, WriteMode};
use bgjobs_database::{Error, Store};
use bgjobs_domain::JobId;
use bgjobs_test_support::wait;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use crate::support::{account, fresh_store, numbered, numbered_from, product, through};

const WRITE: WriteMode = WriteMode::CreateOrUpdate;

fn products(skus: &[&str]) -> Vec<Product> {
    skus.iter().map(|sku| product(sku, "A product")).collect()
}

/// Deletes batch after batch until the client row goes.
async fn delete_all(store: &Store, job: JobId, client_id: &str) -> anyhow::Result<()> {
    let acme = account("acme");
    while !matches!(
        store.catalog().delete_client_batch(job, 1, &acme, client_id, 2).await?,
        DeleteStep::ClientDeleted { .. }
    ) {}
    Ok(())
}

#[tokio::test]
async fn a_begun_deletion_refuses_the_next_product_batch_and_its_check() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client one").await?;
    let (upload, deletion) = (JobId::new(), JobId::new());
    let first = numbered(&products(&["A", "B", "C"]));
    store.catalog().apply_product_batch_as(upload, &acme, "c1", &first, WRITE, &through(3)).await?;

    store.catalog().begin_client_deletion(deletion, 1, &acme, "c1").await?;
    let second = numbered_from(4, &products(&["D", "E"]));
    let refused = store
        .catalog()
        .apply_product_batch_as(upload, &acme, "c1", &second, WRITE, &through(5))
        .await;
    match refused {
        Err(Error::ClientBeingDeleted { client_id, delete_job }) => {
            assert_eq!((client_id.as_str(), delete_job), ("c1", deletion));
        }
        other => panic!("expected ClientBeingDeleted, got {other:?}"),
    }
    let error = store
        .catalog()
        .check_product_batch(upload, 1, &acme, "c1", &second, WRITE)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), format!("client 'c1' is being deleted (job {deletion})"));
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 3);
    assert_eq!(store.catalog().checkpoint(upload).await?.map(|seen| seen.rows_committed), Some(3));

    // Another client of the account is not held up.
    store.catalog().ensure_client(&acme, "c2", "Client two").await?;
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c2", &second, WRITE, &through(5))
        .await?;
    assert_eq!(store.catalog().count_products(&acme, "c2").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_batch_committed_before_the_deletion_began_is_deleted_by_it() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client one").await?;
    let deletion = JobId::new();
    let rows = numbered(&products(&["A", "B", "C"]));
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c1", &rows, WRITE, &through(3))
        .await?;

    store.catalog().begin_client_deletion(deletion, 1, &acme, "c1").await?;
    delete_all(&store, deletion, "c1").await?;
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 0);
    assert_eq!(
        store.catalog().client_deletion_progress(deletion, &acme).await?,
        vec![TableRows { table: "products", rows: 3 }, TableRows { table: CLIENTS_TABLE, rows: 1 }]
    );
    Ok(())
}

#[tokio::test]
async fn a_deletion_begins_only_once_the_batch_writing_the_client_commits() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client one").await?;
    let deletion = JobId::new();

    // A batch in flight: the client's shared lock taken, a product written, not committed.
    let connection = store.connection();
    let backend = connection.get_database_backend();
    let in_flight = connection.begin().await?;
    let lock = "SELECT pg_advisory_xact_lock_shared(hashtextextended('acme/c1', 0))";
    in_flight.execute(Statement::from_string(backend, lock)).await?;
    in_flight
        .execute(Statement::from_string(
            backend,
            "INSERT INTO catalog.products (account_id, client_id, sku, name) \
             VALUES ('acme', 'c1', 'IN-FLIGHT', 'Written before the deletion began')",
        ))
        .await?;

    let begin = tokio::spawn({
        let store = store.clone();
        let acme = acme.clone();
        async move { store.catalog().begin_client_deletion(deletion, 1, &acme, "c1").await }
    });
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    wait::until("the deletion to wait for the batch's lock", Duration::from_secs(10), || async {
        let row = connection.query_one(Statement::from_string(backend, waiting)).await?;
        let count: i64 = row.map(|row| row.try_get_by_index(0)).transpose()?.unwrap_or(0);
        Ok((count == 1).then_some(()))
    })
    .await?;
    assert!(!begin.is_finished(), "the deletion began while a batch was writing");
    in_flight.commit().await?;
    begin.await??;

    delete_all(&store, deletion, "c1").await?;
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 0);
    Ok(())
}

#[tokio::test]
async fn counting_for_a_dry_run_does_not_hold_up_uploads() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client one").await?;
    let rows = numbered(&products(&["A"]));
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c1", &rows, WRITE, &through(1))
        .await?;

    let counted = store.catalog().client_data_counts(&acme, "c1").await?;
    assert_eq!(counted, vec![TableRows { table: "products", rows: 1 }]);
    let more = numbered(&products(&["B"]));
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c1", &more, WRITE, &through(1))
        .await?;
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 2);
    Ok(())
}

#[tokio::test]
async fn after_the_deletion_a_batch_finds_no_client_and_a_new_one_is_writable() -> anyhow::Result<()>
{
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client one").await?;
    let deletion = JobId::new();
    store.catalog().begin_client_deletion(deletion, 1, &acme, "c1").await?;
    delete_all(&store, deletion, "c1").await?;

    let rows = numbered(&products(&["A"]));
    let error = store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c1", &rows, WRITE, &through(1))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "client 'c1' does not exist in account acme; create the client first"
    );

    // The deletion's record went with the client: a client created again is writable.
    store.catalog().ensure_client(&acme, "c1", "Client one again").await?;
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c1", &rows, WRITE, &through(1))
        .await?;
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 1);
    Ok(())
}
