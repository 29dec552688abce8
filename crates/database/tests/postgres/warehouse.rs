use bgjobs_database::catalog::warehouse::{Location, LocationType};
use bgjobs_database::catalog::{BatchOutcome, Checkpoint, WriteMode};
use bgjobs_database::{Error, Store};
use bgjobs_domain::{AccountId, JobId};

use crate::support::{account, fresh_store, numbered};

/// Applies `rows` (numbered from 1) as one create-or-update batch of `job`.
async fn apply_locations(
    store: &Store,
    job: JobId,
    account: &AccountId,
    rows: &[Location],
    after: &Checkpoint,
) -> Result<BatchOutcome, Error> {
    let rows = numbered(rows);
    let applied = store
        .catalog()
        .apply_location_batch_as(job, account, &rows, WriteMode::CreateOrUpdate, after)
        .await?;
    Ok(applied.counts)
}

fn location(warehouse_id: &str, code: &str) -> Location {
    Location {
        warehouse_id: warehouse_id.to_owned(),
        location_code: code.to_owned(),
        zone: Some("Z1".to_owned()),
        aisle: Some("01".to_owned()),
        bay: Some("02".to_owned()),
        level: None,
        location_type: Some(LocationType::Pick),
        pickable: Some(true),
        capacity: Some(250),
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
async fn a_batch_creates_new_locations_updates_changed_ones_and_skips_the_rest()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    store.catalog().ensure_warehouse(&acme, "WH2", "Overflow").await?;
    let first = [location("WH1", "A-1"), location("WH1", "A-2"), location("WH2", "A-1")];
    let created =
        apply_locations(&store, JobId::new(), &acme, &first, &checkpoint(3, 3, 0, 0)).await?;
    assert_eq!(created, BatchOutcome { created: 3, updated: 0, unchanged: 0 });

    let mut changed = location("WH1", "A-2");
    changed.location_type = Some(LocationType::Bulk);
    changed.capacity = None;
    let second = [location("WH1", "A-1"), changed.clone(), location("WH2", "B-9")];
    let outcome =
        apply_locations(&store, JobId::new(), &acme, &second, &checkpoint(3, 1, 1, 1)).await?;

    assert_eq!(outcome, BatchOutcome { created: 1, updated: 1, unchanged: 1 });
    assert_eq!(store.catalog().count_locations(&acme, "WH1").await?, 2);
    assert_eq!(store.catalog().count_locations(&acme, "WH2").await?, 2);
    assert_eq!(store.catalog().get_location(&acme, "WH1", "A-2").await?, Some(changed));
    assert_eq!(store.catalog().get_location(&acme, "WH1", "Z-9").await?, None);
    Ok(())
}

#[tokio::test]
async fn replaying_a_committed_location_batch_is_refused_and_changes_nothing() -> anyhow::Result<()>
{
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    let job = JobId::new();
    let batch: Vec<_> = (0..40).map(|index| location("WH1", &format!("L-{index:03}"))).collect();
    apply_locations(&store, job, &acme, &batch, &totals_before(41, 1)).await?;
    let before = store.catalog().get_location(&acme, "WH1", "L-007").await?;
    assert_eq!(store.catalog().checkpoint(job).await?, Some(checkpoint(41, 40, 0, 0)));

    let replay = apply_locations(&store, job, &acme, &batch, &totals_before(41, 1)).await;

    assert!(matches!(replay, Err(Error::Overtaken { committed: 41, .. })), "{replay:?}");
    assert_eq!(store.catalog().count_locations(&acme, "WH1").await?, 40);
    assert_eq!(store.catalog().get_location(&acme, "WH1", "L-007").await?, before);
    assert_eq!(store.catalog().checkpoint(job).await?, Some(checkpoint(41, 40, 0, 0)));
    Ok(())
}

#[tokio::test]
async fn a_location_batch_moves_the_checkpoint_even_when_empty() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = JobId::new();
    let all_rejected = checkpoint(5, 0, 0, 0);
    apply_locations(&store, job, &acme, &[], &all_rejected).await?;
    assert_eq!(store.catalog().checkpoint(job).await?, Some(all_rejected));
    Ok(())
}

#[tokio::test]
async fn a_location_of_an_unknown_warehouse_fails_the_whole_batch() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    store.catalog().ensure_warehouse(&globex, "WH-G", "Globex's").await?;
    let job = JobId::new();
    // WH-G exists, but in another account.
    let batch = [location("WH1", "A-1"), location("WH-G", "A-1")];

    let result = apply_locations(&store, job, &acme, &batch, &checkpoint(2, 2, 0, 0)).await;

    assert!(matches!(result, Err(Error::Database(_))), "{result:?}");
    assert_eq!(store.catalog().count_locations(&acme, "WH1").await?, 0);
    assert_eq!(store.catalog().checkpoint(job).await?, None);
    Ok(())
}

#[tokio::test]
async fn large_location_batches_are_applied_whole() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    let batch: Vec<_> = (0..2_100).map(|index| location("WH1", &format!("L-{index:05}"))).collect();

    let outcome =
        apply_locations(&store, JobId::new(), &acme, &batch, &checkpoint(2_100, 2_100, 0, 0))
            .await?;

    assert_eq!(outcome.created, 2_100);
    assert_eq!(store.catalog().count_locations(&acme, "WH1").await?, 2_100);
    Ok(())
}

#[tokio::test]
async fn warehouses_are_created_once_and_scoped_by_account() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    assert!(!store.catalog().warehouse_exists(&acme, "WH1").await?);

    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    store.catalog().ensure_warehouse(&acme, "WH1", "Another name").await?;
    store.catalog().ensure_warehouse(&acme, "WH2", "Overflow").await?;
    store.catalog().ensure_warehouse(&globex, "WH-G", "Globex's").await?;

    assert!(store.catalog().warehouse_exists(&acme, "WH1").await?);
    assert!(!store.catalog().warehouse_exists(&globex, "WH1").await?);
    let mut acme_ids: Vec<String> =
        store.catalog().warehouse_ids(&acme).await?.into_iter().collect();
    acme_ids.sort();
    assert_eq!(acme_ids, vec!["WH1".to_owned(), "WH2".to_owned()]);
    assert!(store.catalog().warehouse_ids(&account("initech")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn keys_and_values_with_quotes_and_backslashes_are_stored_as_given() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, r#"WH "1"\"#, "Quoted").await?;
    let mut awkward = location(r#"WH "1"\"#, r#"A,1 {"x"}"#);
    awkward.zone = Some("NULL".to_owned());
    awkward.level = Some(r"\N".to_owned());
    awkward.pickable = Some(false);
    awkward.capacity = Some(0);

    let created =
        apply_locations(&store, JobId::new(), &acme, &[awkward.clone()], &checkpoint(1, 1, 0, 0))
            .await?;

    assert_eq!(created, BatchOutcome { created: 1, updated: 0, unchanged: 0 });
    let catalog = store.catalog();
    let stored = catalog.get_location(&acme, &awkward.warehouse_id, &awkward.location_code);
    assert_eq!(stored.await?, Some(awkward));
    Ok(())
}
