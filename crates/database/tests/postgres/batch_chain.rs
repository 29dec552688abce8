//! Batches of one pass written side by side (`BatchChain`): each writes its rows while
//! the one before it is still open, yet keys are claimed and checkpoints recorded as if
//! they ran one after another.

use std::time::{Duration, Instant};

use bgjobs_database::catalog::{BatchChain, Checkpoint, RowOutcome, WriteMode};
use bgjobs_database::{Error, Store};
use bgjobs_domain::JobId;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use crate::support::{
    account, fresh_store, location, numbered, numbered_from, product, sessions, through,
};

const CREATE_OR_UPDATE: WriteMode = WriteMode::CreateOrUpdate;

#[tokio::test]
async fn a_batch_writes_while_the_one_before_it_waits_and_commits_only_after_it()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let seed = [product("A", "old")];
    let seeded = JobId::new();
    let catalog = store.catalog();
    catalog
        .apply_product_batch_as(
            seeded,
            &acme,
            "c1",
            &numbered(&seed),
            CREATE_OR_UPDATE,
            &through(1),
        )
        .await?;

    // Another transaction holds product A, so the first batch waits inside its write.
    let locker = store.connection().begin().await?;
    locker
        .execute(Statement::from_string(
            locker.get_database_backend(),
            "SELECT 1 FROM catalog.products WHERE sku = 'A' FOR UPDATE",
        ))
        .await?;

    let job = JobId::new();
    let mut chain = BatchChain::starting_at(through(0));
    let (first_turn, second_turn) = (chain.next(2, 0), chain.next(5, 1));
    let first_rows = numbered(&[product("A", "new"), product("B", "b")]);
    // Rows 3 and 5; row 4 was rejected before reaching the store.
    let second_rows = vec![(3, product("C", "c")), (5, product("D", "d"))];
    let (store_1, acme_1) = (store.clone(), acme.clone());
    let first = tokio::spawn(async move {
        let catalog = store_1.catalog();
        catalog
            .apply_product_batch_in_turn(
                job,
                &acme_1,
                "c1",
                &first_rows,
                CREATE_OR_UPDATE,
                first_turn,
            )
            .await
    });
    let (store_2, acme_2) = (store.clone(), acme.clone());
    let second = tokio::spawn(async move {
        let catalog = store_2.catalog();
        catalog
            .apply_product_batch_in_turn(
                job,
                &acme_2,
                "c1",
                &second_rows,
                CREATE_OR_UPDATE,
                second_turn,
            )
            .await
    });

    // The first batch waits for the lock; the second has written its rows and waits,
    // idle in its transaction (as the locker is), for the first to commit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sessions(&store).await? != (2, 1) {
        assert!(Instant::now() < deadline, "sessions: {:?}", sessions(&store).await?);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!second.is_finished(), "the second batch ended before the first committed");
    assert_eq!(store.catalog().checkpoint(job).await?, None);
    assert_eq!(store.catalog().get_product(&acme, "c1", "C").await?, None);

    locker.rollback().await?;
    let first = first.await??;
    let second = second.await??;
    assert_eq!(first.rows, vec![RowOutcome::Updated, RowOutcome::Created]);
    assert_eq!(second.rows, vec![RowOutcome::Created, RowOutcome::Created]);
    let checkpoint = store.catalog().checkpoint(job).await?.expect("committed");
    let expected = Checkpoint { rows_created: 3, rows_updated: 1, rows_rejected: 1, ..through(5) };
    assert_eq!(checkpoint, expected);
    Ok(())
}

#[tokio::test]
async fn a_key_of_both_batches_is_claimed_by_the_earlier_even_when_the_later_starts_first()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let mut chain = BatchChain::starting_at(through(0));
    let (first_turn, second_turn) = (chain.next(2, 0), chain.next(4, 0));

    let (store_2, acme_2) = (store.clone(), acme.clone());
    let second_rows = numbered_from(3, &[product("C", "c"), product("A", "second")]);
    let second = tokio::spawn(async move {
        let catalog = store_2.catalog();
        catalog
            .apply_product_batch_in_turn(
                job,
                &acme_2,
                "c1",
                &second_rows,
                CREATE_OR_UPDATE,
                second_turn,
            )
            .await
    });
    tokio::task::yield_now().await;
    let first_rows = numbered(&[product("A", "first"), product("B", "b")]);
    let catalog = store.catalog();
    let first = catalog
        .apply_product_batch_in_turn(job, &acme, "c1", &first_rows, CREATE_OR_UPDATE, first_turn)
        .await?;
    let second = second.await??;

    assert_eq!(first.rows, vec![RowOutcome::Created, RowOutcome::Created]);
    assert_eq!(second.rows, vec![RowOutcome::Created, RowOutcome::Duplicate { first_row: 1 }]);
    let kept = store.catalog().get_product(&acme, "c1", "A").await?.map(|found| found.name);
    assert_eq!(kept.as_deref(), Some("first"));
    let checkpoint = store.catalog().checkpoint(job).await?.expect("committed");
    assert_eq!(checkpoint, Checkpoint { rows_created: 3, rows_rejected: 1, ..through(4) });
    Ok(())
}

#[tokio::test]
async fn a_batch_after_one_that_failed_writes_nothing() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    let job = JobId::new();
    let mut chain = BatchChain::starting_at(through(0));
    let (first_turn, second_turn) = (chain.next(1, 0), chain.next(2, 0));
    // No such warehouse: the first batch fails in its write, after claiming its key.
    let first_rows = numbered(&[location("NOPE", "A-1", 10)]);
    let second_rows = numbered_from(2, &[location("WH1", "B-1", 10)]);

    let catalog = store.catalog();
    let (first, second) = tokio::join!(
        catalog.apply_location_batch_in_turn(job, &acme, &first_rows, CREATE_OR_UPDATE, first_turn),
        catalog.apply_location_batch_in_turn(
            job,
            &acme,
            &second_rows,
            CREATE_OR_UPDATE,
            second_turn
        ),
    );

    assert!(matches!(first, Err(Error::Database(_))), "{first:?}");
    assert!(matches!(second, Err(Error::EarlierBatchNotCommitted)), "{second:?}");
    assert_eq!(store.catalog().checkpoint(job).await?, None);
    assert_eq!(store.catalog().get_location(&acme, "WH1", "B-1").await?, None);
    // The second batch's claim went with it: written again, its row is no duplicate.
    let again = store
        .catalog()
        .apply_location_batch_as(job, &acme, &second_rows, CREATE_OR_UPDATE, &through(2))
        .await?;
    assert_eq!(again.rows, vec![RowOutcome::Created]);
    Ok(())
}

/// The product names of `skus` in client c1 of `account`, `None` where there is none.
async fn names(
    store: &Store,
    account: &bgjobs_domain::AccountId,
    skus: &[&str],
) -> anyhow::Result<Vec<Option<String>>> {
    let mut names = Vec::with_capacity(skus.len());
    for sku in skus {
        let found = store.catalog().get_product(account, "c1", sku).await?;
        names.push(found.map(|product| product.name));
    }
    Ok(names)
}

#[tokio::test]
async fn a_pass_that_created_only_new_rows_meets_existing_ones_and_writes_them_as_usual()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let catalog = store.catalog();
    catalog.ensure_client(&acme, "c1", "Client").await?;
    let seed = numbered(&[product("B", "old"), product("C", "same"), product("F", "old")]);
    catalog
        .apply_product_batch_as(JobId::new(), &acme, "c1", &seed, CREATE_OR_UPDATE, &through(0))
        .await?;

    let job = JobId::new();
    let mut chain = BatchChain::starting_at(through(0));
    let batches = [
        numbered(&[product("A1", "a1"), product("A2", "a2")]),
        // After a batch of new rows this one is expected new too, yet B and C exist.
        numbered_from(
            3,
            &[product("D", "d"), product("B", "new"), product("C", "same"), product("A1", "again")],
        ),
        numbered_from(7, &[product("E", "e"), product("F", "new")]),
    ];
    let mut outcomes = Vec::new();
    for rows in &batches {
        let turn = chain.next(rows.last().map_or(0, |(number, _)| *number), 0);
        let applied = catalog
            .apply_product_batch_in_turn(job, &acme, "c1", rows, CREATE_OR_UPDATE, turn)
            .await?;
        outcomes.push(applied.rows);
    }

    use RowOutcome::{Created, Duplicate, Unchanged, Updated};
    assert_eq!(
        outcomes,
        vec![
            vec![Created, Created],
            vec![Created, Updated, Unchanged, Duplicate { first_row: 1 }],
            vec![Created, Updated],
        ]
    );
    let stored = names(&store, &acme, &["A1", "A2", "B", "C", "D", "E", "F"]).await?;
    let expected = ["a1", "a2", "new", "same", "d", "e", "new"].map(|name| Some(name.to_owned()));
    assert_eq!(stored, expected);
    let checkpoint = catalog.checkpoint(job).await?.expect("committed");
    let totals = Checkpoint {
        rows_created: 4,
        rows_updated: 2,
        rows_unchanged: 1,
        rows_rejected: 1,
        ..through(8)
    };
    assert_eq!(checkpoint, totals);
    Ok(())
}

#[tokio::test]
async fn create_only_expecting_new_rows_still_refuses_another_jobs_and_creates_the_rest()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let catalog = store.catalog();
    catalog.ensure_client(&acme, "c1", "Client").await?;
    let seed = numbered(&[product("B", "theirs")]);
    catalog
        .apply_product_batch_as(JobId::new(), &acme, "c1", &seed, CREATE_OR_UPDATE, &through(0))
        .await?;

    // A pass's first batch is expected to hold new rows.
    let job = JobId::new();
    let rows = numbered(&[product("A", "a"), product("B", "mine"), product("C", "c")]);
    let applied = catalog
        .apply_product_batch_as(job, &acme, "c1", &rows, WriteMode::CreateOnly, &through(0))
        .await?;

    assert_eq!(
        applied.rows,
        vec![RowOutcome::Created, RowOutcome::AlreadyExists, RowOutcome::Created]
    );
    let stored = names(&store, &acme, &["A", "B", "C"]).await?;
    assert_eq!(stored, ["a", "theirs", "c"].map(|name| Some(name.to_owned())));
    Ok(())
}
