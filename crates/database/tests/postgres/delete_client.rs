use bgjobs_database::Store;
use bgjobs_database::catalog::delete_client::{CLIENTS_TABLE, DeleteStep, TableRows};
use bgjobs_database::catalog::{Checkpoint, Product, WriteMode};
use bgjobs_domain::JobId;

use crate::support::{account, fresh_store};

fn product(sku: &str) -> Product {
    Product {
        sku: sku.to_owned(),
        name: format!("Product {sku}"),
        description: None,
        barcode: None,
        weight_kg: None,
        length_cm: None,
        width_cm: None,
        height_cm: None,
        price: None,
        hs_code: None,
        country_of_origin: None,
    }
}

/// Creates the client with `count` products.
async fn client_with_products(
    store: &Store,
    account_name: &str,
    client_id: &str,
    count: u64,
) -> anyhow::Result<()> {
    let owner = account(account_name);
    store.catalog().ensure_client(&owner, client_id, "A client").await?;
    let rows: Vec<(u64, Product)> =
        (1..=count).map(|n| (n, product(&format!("SKU-{n:04}")))).collect();
    let after = Checkpoint { attempt: 1, rows_committed: count, ..Checkpoint::default() };
    let write = WriteMode::CreateOrUpdate;
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), &owner, client_id, &rows, write, &after)
        .await?;
    Ok(())
}

fn products(rows: u64) -> TableRows {
    TableRows { table: "products", rows }
}

/// Calls `delete_client_batch` until the client row goes; returns every step.
async fn delete_all(
    store: &Store,
    job: JobId,
    account_name: &str,
    client_id: &str,
    batch_size: u64,
) -> anyhow::Result<Vec<DeleteStep>> {
    let mut steps = Vec::new();
    loop {
        let step = store
            .catalog()
            .delete_client_batch(job, 1, &account(account_name), client_id, batch_size)
            .await?;
        steps.push(step);
        if matches!(step, DeleteStep::ClientDeleted { .. }) {
            return Ok(steps);
        }
    }
}

#[tokio::test]
async fn counts_list_every_client_owned_table_of_that_client_only() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    client_with_products(&store, "acme", "client-1", 7).await?;
    client_with_products(&store, "acme", "client-2", 3).await?;
    client_with_products(&store, "other", "client-1", 5).await?;
    client_with_products(&store, "acme", "empty", 0).await?;

    assert_eq!(
        store.catalog().client_data_counts(&account("acme"), "client-1").await?,
        vec![products(7)]
    );
    assert_eq!(
        store.catalog().client_data_counts(&account("acme"), "empty").await?,
        vec![products(0)]
    );
    assert_eq!(
        store.catalog().client_data_counts(&account("acme"), "nobody").await?,
        vec![products(0)]
    );
    Ok(())
}

#[tokio::test]
async fn batches_delete_the_products_then_the_client_and_nothing_else() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    client_with_products(&store, "acme", "client-1", 25).await?;
    client_with_products(&store, "acme", "client-2", 3).await?;
    client_with_products(&store, "other", "client-1", 5).await?;
    let job = JobId::new();

    let steps = delete_all(&store, job, "acme", "client-1", 10).await?;
    assert_eq!(
        steps,
        vec![
            DeleteStep::Rows(products(10)),
            DeleteStep::Rows(products(10)),
            DeleteStep::Rows(products(5)),
            DeleteStep::ClientDeleted { existed: true },
        ]
    );
    let acme = account("acme");
    assert!(!store.catalog().client_exists(&acme, "client-1").await?);
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 0);
    assert_eq!(store.catalog().count_products(&acme, "client-2").await?, 3);
    assert_eq!(store.catalog().count_products(&account("other"), "client-1").await?, 5);
    assert!(store.catalog().client_exists(&account("other"), "client-1").await?);
    assert_eq!(
        store.catalog().client_deletion_progress(job, &acme).await?,
        vec![products(25), TableRows { table: CLIENTS_TABLE, rows: 1 }]
    );
    Ok(())
}

#[tokio::test]
async fn a_resumed_job_continues_and_its_counts_stay_exact() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    client_with_products(&store, "acme", "client-1", 12).await?;
    let acme = account("acme");
    let job = JobId::new();

    // The first delivery commits one batch, then "dies".
    store.catalog().delete_client_batch(job, 1, &acme, "client-1", 5).await?;
    assert_eq!(store.catalog().client_deletion_progress(job, &acme).await?, vec![products(5)]);
    assert_eq!(store.catalog().client_data_counts(&acme, "client-1").await?, vec![products(7)]);

    // The redelivery carries on; the total counts each product once.
    delete_all(&store, job, "acme", "client-1", 5).await?;
    assert_eq!(
        store.catalog().client_deletion_progress(job, &acme).await?,
        vec![products(12), TableRows { table: CLIENTS_TABLE, rows: 1 }]
    );

    // Once the client is gone, calling again deletes and counts nothing more.
    let again = store.catalog().delete_client_batch(job, 1, &acme, "client-1", 5).await?;
    assert_eq!(again, DeleteStep::ClientDeleted { existed: false });
    assert_eq!(
        store.catalog().client_deletion_progress(job, &acme).await?,
        vec![products(12), TableRows { table: CLIENTS_TABLE, rows: 1 }]
    );
    Ok(())
}

#[tokio::test]
async fn progress_is_per_job_and_per_account() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    client_with_products(&store, "acme", "client-1", 2).await?;
    let job = JobId::new();
    delete_all(&store, job, "acme", "client-1", 100).await?;

    assert_eq!(
        store.catalog().client_deletion_progress(JobId::new(), &account("acme")).await?,
        vec![]
    );
    assert_eq!(store.catalog().client_deletion_progress(job, &account("other")).await?, vec![]);
    Ok(())
}

#[tokio::test]
async fn the_job_that_deleted_a_client_is_known_afterwards() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    client_with_products(&store, "acme", "client-1", 2).await?;
    assert_eq!(store.catalog().client_deleted_by(&account("acme"), "client-1").await?, None);

    let job = JobId::new();
    delete_all(&store, job, "acme", "client-1", 100).await?;

    assert_eq!(store.catalog().client_deleted_by(&account("acme"), "client-1").await?, Some(job));
    assert_eq!(store.catalog().client_deleted_by(&account("other"), "client-1").await?, None);
    assert_eq!(store.catalog().client_deleted_by(&account("acme"), "client-2").await?, None);
    Ok(())
}

#[tokio::test]
async fn deleters_of_one_client_at_once_share_the_work_and_delete_it_whole() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    client_with_products(&store, "acme", "client-1", 2_000).await?;
    let acme = account("acme");
    let (first, second) = (JobId::new(), JobId::new());

    // Two deliveries of one job (a redelivery racing the original) and a second job,
    // each deleting small batches as fast as it can.
    let deleters = [first, first, second].map(|job| {
        let store = store.clone();
        tokio::spawn(async move { delete_all(&store, job, "acme", "client-1", 5).await })
    });
    for deleter in deleters {
        deleter.await??;
    }

    assert!(!store.catalog().client_exists(&acme, "client-1").await?);
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 0);
    let mut products_deleted = 0;
    let mut client_rows_deleted = 0;
    for job in [first, second] {
        for counted in store.catalog().client_deletion_progress(job, &acme).await? {
            match counted.table {
                CLIENTS_TABLE => client_rows_deleted += counted.rows,
                _ => products_deleted += counted.rows,
            }
        }
    }
    assert_eq!((products_deleted, client_rows_deleted), (2_000, 1));
    Ok(())
}
