//! Each row's outcome, and the create-only and update-only write modes.

use bgjobs_database::catalog::{Checkpoint, RowOutcome, WriteMode};
use bgjobs_domain::JobId;

use crate::support::{account, fresh_store, location, numbered, product, through};

#[tokio::test]
async fn every_row_gets_its_outcome_in_input_order() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let seed = [product("B", "Bolt"), product("C", "Crate")];
    store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&seed),
            WriteMode::CreateOrUpdate,
            &through(2),
        )
        .await?;

    // Deliberately not in key order: outcomes follow the input, not the write order.
    let rows = [product("Z", "Zip"), product("C", "Crate"), product("B", "Bolt v2")];
    let applied = store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&rows),
            WriteMode::CreateOrUpdate,
            &through(3),
        )
        .await?;
    assert_eq!(applied.rows, vec![RowOutcome::Created, RowOutcome::Unchanged, RowOutcome::Updated]);
    assert_eq!(
        (applied.counts.created, applied.counts.updated, applied.counts.unchanged),
        (1, 1, 1)
    );
    assert_eq!(applied.refused, 0);
    Ok(())
}

#[tokio::test]
async fn create_only_leaves_existing_products_alone() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&[product("A", "Anvil")]),
            WriteMode::CreateOrUpdate,
            &through(1),
        )
        .await?;

    let rows = [product("A", "Anvil renamed"), product("N", "New")];
    let applied = store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&rows),
            WriteMode::CreateOnly,
            &through(2),
        )
        .await?;
    assert_eq!(applied.rows, vec![RowOutcome::AlreadyExists, RowOutcome::Created]);
    assert_eq!(applied.refused, 1);
    let kept = store.catalog().get_product(&acme, "c1", "A").await?.map(|p| p.name);
    assert_eq!(kept.as_deref(), Some("Anvil"));
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 2);
    Ok(())
}

#[tokio::test]
async fn update_only_creates_nothing_and_updates_existing_products() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let seed = [product("A", "Anvil"), product("B", "Bolt")];
    store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&seed),
            WriteMode::CreateOrUpdate,
            &through(2),
        )
        .await?;

    let rows = [product("X", "Unknown"), product("A", "Anvil v2"), product("B", "Bolt")];
    let applied = store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&rows),
            WriteMode::UpdateOnly,
            &through(3),
        )
        .await?;
    assert_eq!(
        applied.rows,
        vec![RowOutcome::DoesNotExist, RowOutcome::Updated, RowOutcome::Unchanged]
    );
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 2);
    assert_eq!(store.catalog().get_product(&acme, "c1", "X").await?, None);
    let existing = store.catalog().existing_skus(&acme, "c1", &["A", "X", "B"]).await?;
    assert_eq!(existing.len(), 2);
    assert!(existing.contains("A") && existing.contains("B"));
    Ok(())
}

#[tokio::test]
async fn location_modes_refuse_by_warehouse_and_code() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    store.catalog().ensure_warehouse(&acme, "WH2", "Overflow").await?;
    store
        .catalog()
        .apply_location_batch_as(
            JobId::new(),
            &acme,
            &numbered(&[location("WH1", "A-1", 5)]),
            WriteMode::CreateOrUpdate,
            &through(1),
        )
        .await?;

    // A-1 exists in WH1 only: in WH2 it is a different location.
    let rows = [location("WH2", "A-1", 5), location("WH1", "A-1", 6)];
    let updated = store
        .catalog()
        .apply_location_batch_as(
            JobId::new(),
            &acme,
            &numbered(&rows),
            WriteMode::UpdateOnly,
            &through(2),
        )
        .await?;
    assert_eq!(updated.rows, vec![RowOutcome::DoesNotExist, RowOutcome::Updated]);
    assert_eq!(store.catalog().count_locations(&acme, "WH2").await?, 0);

    let created = store
        .catalog()
        .apply_location_batch_as(
            JobId::new(),
            &acme,
            &numbered(&rows),
            WriteMode::CreateOnly,
            &through(2),
        )
        .await?;
    assert_eq!(created.rows, vec![RowOutcome::Created, RowOutcome::AlreadyExists]);
    let capacity =
        store.catalog().get_location(&acme, "WH1", "A-1").await?.and_then(|l| l.capacity);
    assert_eq!(capacity, Some(6));
    let keys = [("WH1".to_owned(), "A-1".to_owned()), ("WH1".to_owned(), "B-1".to_owned())];
    assert_eq!(store.catalog().existing_locations(&acme, &keys).await?.len(), 1);
    Ok(())
}

/// A new attempt of a create-only upload (a retry, a stall recovery) starts over from
/// row 1: the rows its earlier attempt created are its own, while a row another job
/// wrote last is still refused, whoever created it.
#[tokio::test]
async fn a_new_attempt_of_a_create_only_upload_keeps_the_rows_its_earlier_attempt_created()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let catalog = store.catalog();
    catalog.ensure_client(&acme, "c1", "Client").await?;
    let other_job = JobId::new();
    let others = numbered(&[product("OTHER", "Other's")]);
    let create_or_update = WriteMode::CreateOrUpdate;
    catalog
        .apply_product_batch_as(other_job, &acme, "c1", &others, create_or_update, &through(1))
        .await?;

    let job = JobId::new();
    let first_batch = numbered(&[product("A", "Anvil"), product("B", "Bolt")]);
    let first = catalog
        .apply_product_batch_as(job, &acme, "c1", &first_batch, WriteMode::CreateOnly, &through(2))
        .await?;
    assert_eq!(first.rows, vec![RowOutcome::Created, RowOutcome::Created]);
    // Another job then changes B: it is no longer this job's row.
    let changed = numbered(&[product("B", "Bolt v2")]);
    catalog
        .apply_product_batch_as(JobId::new(), &acme, "c1", &changed, create_or_update, &through(1))
        .await?;

    // Attempt 2 reads the file from row 1 again.
    catalog.clear_upload_keys(job, 2).await?;
    let file = numbered(&[
        product("A", "Anvil"),
        product("B", "Bolt"),
        product("OTHER", "Mine"),
        product("C", "Crate"),
    ]);
    let checked =
        catalog.check_product_batch(job, 2, &acme, "c1", &file, WriteMode::CreateOnly).await?;
    let exists = Some(RowOutcome::AlreadyExists);
    assert_eq!(checked, vec![None, exists, exists, None]);
    let attempt_two = Checkpoint { attempt: 2, ..through(4) };
    let applied = catalog
        .apply_product_batch_as(job, &acme, "c1", &file, WriteMode::CreateOnly, &attempt_two)
        .await?;
    assert_eq!(
        applied.rows,
        vec![
            RowOutcome::Unchanged,
            RowOutcome::AlreadyExists,
            RowOutcome::AlreadyExists,
            RowOutcome::Created
        ]
    );
    let name_of = async |sku| {
        anyhow::Ok(catalog.get_product(&acme, "c1", sku).await?.map(|found| found.name))
    };
    assert_eq!(name_of("B").await?.as_deref(), Some("Bolt v2"));
    assert_eq!(name_of("OTHER").await?.as_deref(), Some("Other's"));
    assert_eq!(catalog.count_products(&acme, "c1").await?, 4);
    Ok(())
}
