//! Duplicate detection of an upload: every row claims its natural key for the job, in
//! the transaction of its batch; a later row with a claimed key is a duplicate.

use std::str::FromStr;

use bgjobs_database::catalog::{Checkpoint, RowOutcome, WriteMode};
use bgjobs_database::{Decimal, Error};
use bgjobs_domain::JobId;

use crate::support::{account, fresh_store, location, numbered, numbered_from, product, through};

const CREATE_OR_UPDATE: WriteMode = WriteMode::CreateOrUpdate;

fn duplicate_of(first_row: u64) -> RowOutcome {
    RowOutcome::Duplicate { first_row }
}

#[tokio::test]
async fn a_sku_twice_in_one_batch_is_a_duplicate_of_its_first_row() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let rows =
        [product("A", "first"), product("B", "b"), product("A", "second"), product("A", "third")];

    let applied = store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &numbered(&rows), CREATE_OR_UPDATE, &through(4))
        .await?;

    use RowOutcome::Created;
    assert_eq!(applied.rows, vec![Created, Created, duplicate_of(1), duplicate_of(1)]);
    assert_eq!((applied.counts.created, applied.refused), (2, 2));
    let kept = store.catalog().get_product(&acme, "c1", "A").await?.map(|found| found.name);
    assert_eq!(kept.as_deref(), Some("first"));
    let checkpoint = store.catalog().checkpoint(job).await?;
    assert_eq!(checkpoint.map(|saved| (saved.rows_created, saved.rows_rejected)), Some((2, 2)));
    Ok(())
}

#[tokio::test]
async fn the_lowest_row_number_wins_whatever_the_order_in_the_batch() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let rows = [(9, product("A", "row 9")), (4, product("A", "row 4"))];

    let applied = store
        .catalog()
        .apply_product_batch_as(JobId::new(), &acme, "c1", &rows, CREATE_OR_UPDATE, &through(9))
        .await?;

    assert_eq!(applied.rows, vec![duplicate_of(4), RowOutcome::Created]);
    let kept = store.catalog().get_product(&acme, "c1", "A").await?.map(|found| found.name);
    assert_eq!(kept.as_deref(), Some("row 4"));
    Ok(())
}

#[tokio::test]
async fn a_sku_of_an_earlier_batch_is_a_duplicate_of_the_row_that_gave_it() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let first = [product("A", "a"), product("B", "b"), product("C", "c")];
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &numbered(&first), CREATE_OR_UPDATE, &through(3))
        .await?;

    let second = [product("D", "d"), product("B", "b changed"), product("A", "a")];
    let after = Checkpoint { rows_created: 3, ..through(6) };
    let applied = store
        .catalog()
        .apply_product_batch_as(
            job,
            &acme,
            "c1",
            &numbered_from(4, &second),
            CREATE_OR_UPDATE,
            &after,
        )
        .await?;

    assert_eq!(applied.rows, vec![RowOutcome::Created, duplicate_of(2), duplicate_of(1)]);
    let kept = store.catalog().get_product(&acme, "c1", "B").await?.map(|found| found.name);
    assert_eq!(kept.as_deref(), Some("b"));
    let checkpoint = store.catalog().checkpoint(job).await?;
    assert_eq!(checkpoint.map(|saved| (saved.rows_created, saved.rows_rejected)), Some((4, 2)));
    Ok(())
}

#[tokio::test]
async fn a_row_refused_by_the_write_mode_still_claims_its_key() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let seed = [product("A", "Anvil")];
    store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&seed),
            CREATE_OR_UPDATE,
            &through(1),
        )
        .await?;

    let existing_twice = [product("A", "a"), product("A", "a again")];
    let create_only = store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&existing_twice),
            WriteMode::CreateOnly,
            &through(2),
        )
        .await?;
    assert_eq!(create_only.rows, vec![RowOutcome::AlreadyExists, duplicate_of(1)]);

    let unknown_twice = [product("X", "x"), product("X", "x again")];
    let update_only = store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &numbered(&unknown_twice),
            WriteMode::UpdateOnly,
            &through(2),
        )
        .await?;
    assert_eq!(update_only.rows, vec![RowOutcome::DoesNotExist, duplicate_of(1)]);
    assert_eq!(update_only.refused, 2);
    Ok(())
}

#[tokio::test]
async fn a_failed_product_batch_leaves_no_claimed_keys() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let mut too_heavy = product("B", "Boulder");
    too_heavy.weight_kg = Some(Decimal::from_str("1000000000000")?); // beyond numeric(12,3)
    let failing = [product("A", "a"), too_heavy];

    let result = store
        .catalog()
        .apply_product_batch_as(
            job,
            &acme,
            "c1",
            &numbered(&failing),
            CREATE_OR_UPDATE,
            &through(2),
        )
        .await;
    assert!(matches!(result, Err(Error::Database(_))), "{result:?}");

    // The same SKUs at later rows are not duplicates of rows that were never committed.
    let retried = [product("A", "a"), product("B", "b")];
    let applied = store
        .catalog()
        .apply_product_batch_as(
            job,
            &acme,
            "c1",
            &numbered_from(5, &retried),
            CREATE_OR_UPDATE,
            &through(6),
        )
        .await?;
    assert_eq!(applied.rows, vec![RowOutcome::Created, RowOutcome::Created]);
    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_location_batch_failing_on_its_warehouse_leaves_no_claimed_keys() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    let job = JobId::new();
    let failing = [location("WH1", "A-1", 10), location("NOWHERE", "A-1", 10)];

    let result = store
        .catalog()
        .apply_location_batch_as(job, &acme, &numbered(&failing), CREATE_OR_UPDATE, &through(2))
        .await;
    assert!(matches!(result, Err(Error::Database(_))), "{result:?}");

    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 0);
    assert_eq!(store.catalog().checkpoint(job).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_new_attempt_replaying_the_rows_finds_the_claims_of_its_own_rows() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let rows = numbered(&[product("A", "a"), product("B", "b"), product("A", "a again")]);
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &rows, CREATE_OR_UPDATE, &through(3))
        .await?;

    let next_attempt = Checkpoint { attempt: 2, ..through(3) };
    let replay = store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &rows, CREATE_OR_UPDATE, &next_attempt)
        .await?;

    // The same rows hold the same claims: nothing new is written, the duplicate stays one.
    use RowOutcome::Unchanged;
    assert_eq!(replay.rows, vec![Unchanged, Unchanged, duplicate_of(1)]);
    let checkpoint = store.catalog().checkpoint(job).await?;
    assert_eq!(checkpoint.map(|saved| (saved.rows_unchanged, saved.rows_rejected)), Some((2, 1)));
    Ok(())
}

#[tokio::test]
async fn keys_of_two_jobs_do_not_interfere() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let (first_job, second_job) = (JobId::new(), JobId::new());
    let rows = [product("A", "a"), product("B", "b")];
    store
        .catalog()
        .apply_product_batch_as(
            first_job,
            &acme,
            "c1",
            &numbered(&rows),
            CREATE_OR_UPDATE,
            &through(2),
        )
        .await?;

    // Another job gives the same SKUs at other rows: updates, not duplicates.
    let applied = store
        .catalog()
        .apply_product_batch_as(
            second_job,
            &acme,
            "c1",
            &numbered_from(7, &rows),
            CREATE_OR_UPDATE,
            &through(8),
        )
        .await?;
    assert_eq!(applied.rows, vec![RowOutcome::Unchanged, RowOutcome::Unchanged]);

    assert_eq!(store.catalog().clear_upload_keys(first_job, 1).await?, 2);
    let later = [product("A", "a")];
    let still_claimed = store
        .catalog()
        .apply_product_batch_as(
            second_job,
            &acme,
            "c1",
            &numbered_from(9, &later),
            CREATE_OR_UPDATE,
            &through(9),
        )
        .await?;
    assert_eq!(still_claimed.rows, vec![duplicate_of(7)]);
    Ok(())
}

#[tokio::test]
async fn clearing_a_jobs_keys_forgets_them() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let rows = [product("A", "a"), product("B", "b"), product("A", "a again")];
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &numbered(&rows), CREATE_OR_UPDATE, &through(3))
        .await?;

    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 2);
    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 0);

    // An attempt starting from row 0 again: row 3 now holds A's claim.
    let restarted = [(3, product("A", "a again")), (1, product("A", "a"))];
    let next_attempt = Checkpoint { attempt: 2, ..through(3) };
    let applied = store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &restarted, CREATE_OR_UPDATE, &next_attempt)
        .await?;
    assert_eq!(applied.rows, vec![duplicate_of(1), RowOutcome::Unchanged]);
    Ok(())
}

#[tokio::test]
async fn row_numbers_must_be_distinct_and_start_at_one() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    for rows in [vec![(0, product("A", "a"))], vec![(2, product("A", "a")), (2, product("B", "b"))]]
    {
        let result = store
            .catalog()
            .apply_product_batch_as(JobId::new(), &acme, "c1", &rows, CREATE_OR_UPDATE, &through(2))
            .await;
        assert!(matches!(result, Err(Error::InvalidInput(_))), "{result:?}");
    }
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 0);
    Ok(())
}

#[tokio::test]
async fn concurrent_batches_of_one_job_claim_a_key_once() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    // A stray second worker of the same job: both batches give SKUs A and B.
    let first = numbered(&[product("A", "a"), product("B", "b")]);
    let second = numbered_from(10, &[product("B", "b"), product("A", "a")]);

    let (first_after, second_after) = (through(2), through(11));
    let catalog = store.catalog();
    let (left, right) = tokio::join!(
        catalog.apply_product_batch_as(job, &acme, "c1", &first, CREATE_OR_UPDATE, &first_after),
        catalog.apply_product_batch_as(job, &acme, "c1", &second, CREATE_OR_UPDATE, &second_after),
    );

    let outcomes: Vec<RowOutcome> = left?.rows.into_iter().chain(right?.rows).collect();
    let created = outcomes.iter().filter(|outcome| **outcome == RowOutcome::Created).count();
    let duplicates = outcomes.iter().filter(|outcome| outcome.is_refused()).count();
    assert_eq!((created, duplicates), (2, 2), "{outcomes:?}");
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 2);
    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 2);
    Ok(())
}
