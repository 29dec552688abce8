use std::str::FromStr;

use bgjobs_database::catalog::{BatchOutcome, Checkpoint, Product, WriteMode};
use bgjobs_database::{Decimal, Error, Store};
use bgjobs_domain::{AccountId, JobId};

use crate::support::{account, fresh_store, numbered};

/// Applies `rows` (numbered from 1) as one create-or-update batch of `job`.
async fn apply_products(
    store: &Store,
    job: JobId,
    account: &AccountId,
    client_id: &str,
    rows: &[Product],
    after: &Checkpoint,
) -> Result<BatchOutcome, Error> {
    let rows = numbered(rows);
    let applied = store
        .catalog()
        .apply_product_batch_as(job, account, client_id, &rows, WriteMode::CreateOrUpdate, after)
        .await?;
    Ok(applied.counts)
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).expect("test decimals are valid")
}

fn product(sku: &str, name: &str) -> Product {
    Product {
        sku: sku.to_owned(),
        name: name.to_owned(),
        description: Some(format!("{name}, boxed")),
        barcode: Some("4006381333931".to_owned()),
        weight_kg: Some(decimal("1.25")),
        length_cm: Some(decimal("10.5")),
        width_cm: Some(decimal("4")),
        height_cm: None,
        price: Some(decimal("19.99")),
        hs_code: Some("8471.30".to_owned()),
        country_of_origin: Some("DE".to_owned()),
    }
}

/// The totals a consumer passes in before a batch: rows through it, rejections so far.
fn totals_before(rows_committed: u64, rows_rejected: u64) -> Checkpoint {
    Checkpoint { attempt: 1, rows_committed, rows_rejected, ..Checkpoint::default() }
}

fn checkpoint(rows_committed: u64, created: u64, updated: u64, unchanged: u64) -> Checkpoint {
    Checkpoint {
        attempt: 1,
        delivery: 0,
        rows_committed,
        rows_created: created,
        rows_updated: updated,
        rows_unchanged: unchanged,
        rows_rejected: rows_committed - created - updated - unchanged,
        results_written: false,
    }
}

#[tokio::test]
async fn a_batch_creates_new_products_updates_changed_ones_and_skips_the_rest() -> anyhow::Result<()>
{
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    let first_job = JobId::new();
    let first = [product("A-1", "Anvil"), product("B-2", "Bolt"), product("C-3", "Crate")];
    let created =
        apply_products(&store, first_job, &acme, "client-1", &first, &checkpoint(3, 3, 0, 0))
            .await?;
    assert_eq!(created, BatchOutcome { created: 3, updated: 0, unchanged: 0 });

    let mut renamed = product("B-2", "Bolt, galvanised");
    renamed.height_cm = Some(decimal("0.5"));
    let mut same_numbers_written_differently = product("C-3", "Crate");
    same_numbers_written_differently.weight_kg = Some(decimal("1.250"));
    let second = [
        product("A-1", "Anvil"),
        renamed.clone(),
        same_numbers_written_differently,
        product("D-4", "Drill"),
    ];
    let outcome =
        apply_products(&store, JobId::new(), &acme, "client-1", &second, &checkpoint(4, 1, 1, 2))
            .await?;

    assert_eq!(outcome, BatchOutcome { created: 1, updated: 1, unchanged: 2 });
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 4);
    assert_eq!(store.catalog().get_product(&acme, "client-1", "B-2").await?, Some(renamed));
    assert_eq!(store.catalog().get_product(&acme, "client-1", "Z-9").await?, None);
    Ok(())
}

#[tokio::test]
async fn replaying_a_committed_batch_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    let job = JobId::new();
    let batch: Vec<_> =
        (0..50).map(|index| product(&format!("SKU-{index:03}"), "Widget")).collect();
    apply_products(&store, job, &acme, "client-1", &batch, &totals_before(52, 2)).await?;
    let before = store.catalog().get_product(&acme, "client-1", "SKU-007").await?;
    assert_eq!(store.catalog().checkpoint(job).await?, Some(checkpoint(52, 50, 0, 0)));

    // Only a second delivery of the same attempt (a duplicate message) can replay a
    // committed batch: a redelivery resumes after the checkpoint.
    let replay =
        apply_products(&store, job, &acme, "client-1", &batch, &totals_before(52, 2)).await;

    assert!(matches!(replay, Err(Error::Overtaken { committed: 52, .. })), "{replay:?}");
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 50);
    assert_eq!(store.catalog().get_product(&acme, "client-1", "SKU-007").await?, before);
    assert_eq!(store.catalog().checkpoint(job).await?, Some(checkpoint(52, 50, 0, 0)));
    Ok(())
}

#[tokio::test]
async fn each_batch_moves_the_checkpoint_with_it() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    let job = JobId::new();
    assert_eq!(store.catalog().checkpoint(job).await?, None);

    // The checkpoint adds the batch's own outcome to the totals before it.
    apply_products(
        &store,
        job,
        &acme,
        "client-1",
        &[product("A", "a"), product("B", "b")],
        &totals_before(2, 0),
    )
    .await?;
    assert_eq!(store.catalog().checkpoint(job).await?, Some(checkpoint(2, 2, 0, 0)));

    // A batch whose rows were all rejected still commits its position.
    let second = checkpoint(5, 2, 0, 0);
    apply_products(&store, job, &acme, "client-1", &[], &second).await?;
    assert_eq!(store.catalog().checkpoint(job).await?, Some(second));
    assert_eq!(store.catalog().checkpoint(JobId::new()).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_failed_batch_leaves_neither_products_nor_checkpoint() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    let job = JobId::new();
    let mut too_heavy = product("B", "Boulder");
    too_heavy.weight_kg = Some(decimal("1000000000000")); // beyond numeric(12,3)

    let result = apply_products(
        &store,
        job,
        &acme,
        "client-1",
        &[product("A", "a"), too_heavy],
        &checkpoint(2, 2, 0, 0),
    )
    .await;

    assert!(matches!(result, Err(Error::Database(_))), "{result:?}");
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 0);
    assert_eq!(store.catalog().checkpoint(job).await?, None);
    Ok(())
}

#[tokio::test]
async fn batches_larger_than_one_statement_are_applied_whole() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    let batch: Vec<_> =
        (0..2_500).map(|index| product(&format!("SKU-{index:05}"), "Widget")).collect();

    let outcome = apply_products(
        &store,
        JobId::new(),
        &acme,
        "client-1",
        &batch,
        &checkpoint(2_500, 2_500, 0, 0),
    )
    .await?;

    assert_eq!(outcome, BatchOutcome { created: 2_500, updated: 0, unchanged: 0 });
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 2_500);
    Ok(())
}

#[tokio::test]
async fn products_are_scoped_by_account_and_client() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    store.catalog().ensure_client(&acme, "client-2", "Client Two").await?;
    store.catalog().ensure_client(&globex, "client-1", "Globex's client").await?;
    let batch = [product("A", "a")];
    for (owner, client) in [(&acme, "client-1"), (&acme, "client-2"), (&globex, "client-1")] {
        let outcome =
            apply_products(&store, JobId::new(), owner, client, &batch, &checkpoint(1, 1, 0, 0))
                .await?;
        assert_eq!(outcome.created, 1, "{owner}/{client}");
    }
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 1);
    assert_eq!(store.catalog().count_products(&globex, "client-2").await?, 0);
    Ok(())
}

#[tokio::test]
async fn clients_are_created_once_and_keep_their_name() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    assert!(!store.catalog().client_exists(&acme, "client-1").await?);

    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    store.catalog().ensure_client(&acme, "client-1", "Another name").await?;

    assert!(store.catalog().client_exists(&acme, "client-1").await?);
    assert!(!store.catalog().client_exists(&account("globex"), "client-1").await?);
    assert_eq!(
        store.catalog().client_name(&acme, "client-1").await?.as_deref(),
        Some("Client One")
    );
    assert_eq!(store.catalog().client_name(&account("globex"), "client-1").await?, None);
    Ok(())
}

#[tokio::test]
async fn products_of_an_unknown_client_are_refused() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let result = apply_products(
        &store,
        JobId::new(),
        &acme,
        "nobody",
        &[product("A", "a")],
        &checkpoint(1, 1, 0, 0),
    )
    .await;
    // Refused by name before anything is written, not by the foreign key.
    assert!(
        matches!(&result, Err(Error::ClientNotFound { client_id, .. }) if client_id == "nobody"),
        "{result:?}"
    );
    assert_eq!(store.catalog().count_products(&acme, "nobody").await?, 0);
    Ok(())
}

#[tokio::test]
async fn values_with_quotes_backslashes_braces_and_null_words_are_stored_as_given()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    let mut awkward = product(r#"SKU "1", \ {x}"#, r#"Rack 19" \ {wide}, 2,5 m"#);
    awkward.description = Some("NULL".to_owned());
    awkward.barcode = Some(String::new());
    awkward.hs_code = Some(" line one\nline two\t".to_owned());
    awkward.country_of_origin = None;
    let mut plain = product("SKU-2", "NULL");
    plain.description = None;

    let created = apply_products(
        &store,
        JobId::new(),
        &acme,
        "client-1",
        &[awkward.clone(), plain.clone()],
        &checkpoint(2, 2, 0, 0),
    )
    .await?;

    assert_eq!(created, BatchOutcome { created: 2, updated: 0, unchanged: 0 });
    assert_eq!(store.catalog().get_product(&acme, "client-1", &awkward.sku).await?, Some(awkward));
    assert_eq!(store.catalog().get_product(&acme, "client-1", "SKU-2").await?, Some(plain));
    Ok(())
}
