//! Batches of only new rows defer their key claims: their keys are recorded as one row
//! per batch, and become claims only when a batch of the job needs them. Duplicates
//! are found exactly as when every row claims its key.

use std::time::{Duration, Instant};

use bgjobs_database::catalog::{AppliedBatch, BatchChain, Product, RowOutcome, WriteMode};
use bgjobs_database::{Error, Store};
use bgjobs_domain::JobId;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};

use crate::support::{account, fresh_store, numbered, numbered_from, product, sessions, through};

const CREATE_OR_UPDATE: WriteMode = WriteMode::CreateOrUpdate;

/// The claims of `job` and the keys its batches deferred.
async fn keys_of(store: &Store, job: JobId) -> anyhow::Result<(i64, i64)> {
    let connection = store.connection();
    let sql = "SELECT (SELECT count(*) FROM catalog.upload_keys WHERE job_id = $1), \
                      (SELECT coalesce(sum(cardinality(natural_keys)), 0)::bigint \
                       FROM catalog.upload_key_batches WHERE job_id = $1)";
    let statement = Statement::from_sql_and_values(
        connection.get_database_backend(),
        sql,
        [job.as_uuid().into()],
    );
    let row = connection.query_one(statement).await?.expect("counts");
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

fn duplicate_of(first_row: u64) -> RowOutcome {
    RowOutcome::Duplicate { first_row }
}

#[tokio::test]
async fn new_rows_record_their_keys_and_a_later_row_giving_one_again_is_its_duplicate()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let catalog = store.catalog();
    let first = numbered(&[product("A", "a"), product("B", "b"), product("A", "a again")]);
    let applied = catalog
        .apply_product_batch_as(job, &acme, "c1", &first, CREATE_OR_UPDATE, &through(0))
        .await?;
    assert_eq!(applied.rows, vec![RowOutcome::Created, RowOutcome::Created, duplicate_of(1)]);
    assert_eq!(keys_of(&store, job).await?, (0, 2), "recorded, not claimed");

    let after = catalog.checkpoint(job).await?.expect("committed");
    let second = numbered_from(4, &[product("C", "c"), product("B", "b changed")]);
    let applied =
        catalog.apply_product_batch_as(job, &acme, "c1", &second, CREATE_OR_UPDATE, &after).await?;
    assert_eq!(applied.rows, vec![RowOutcome::Created, duplicate_of(2)]);
    assert_eq!(keys_of(&store, job).await?, (3, 0), "A, B and C claimed, nothing left deferred");
    let kept = catalog.get_product(&acme, "c1", "B").await?.map(|found| found.name);
    assert_eq!(kept.as_deref(), Some("b"));
    assert_eq!(catalog.clear_upload_keys(job, 1).await?, 3);
    Ok(())
}

#[tokio::test]
async fn the_keys_of_many_batches_all_become_claims_when_needed() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let catalog = store.catalog();
    let mut after = through(0);
    for row in 1..=120 {
        let rows = [(row, product(&format!("SKU-{row}"), "new"))];
        catalog.apply_product_batch_as(job, &acme, "c1", &rows, CREATE_OR_UPDATE, &after).await?;
        after = catalog.checkpoint(job).await?.expect("committed");
    }
    assert_eq!(keys_of(&store, job).await?, (0, 120));

    let again = numbered_from(121, &[product("SKU-120", "x"), product("SKU-1", "y")]);
    let applied =
        catalog.apply_product_batch_as(job, &acme, "c1", &again, CREATE_OR_UPDATE, &after).await?;
    assert_eq!(applied.rows, vec![duplicate_of(120), duplicate_of(1)]);
    assert_eq!(keys_of(&store, job).await?, (120, 0));
    Ok(())
}

type Applied = tokio::task::JoinHandle<Result<AppliedBatch, Error>>;

/// Two batches of new products of one pass (A and B, then C and D), sent side by side
/// while another transaction (returned) inserts product A: the first batch's insert
/// waits for it. The second shares no key with the first: it inserts its rows and
/// waits, idle in its transaction (as the locker is), to commit after the first.
async fn two_batches_behind_an_insert_of_a(
    store: &Store,
) -> anyhow::Result<(DatabaseTransaction, JobId, [Applied; 2])> {
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let locker = store.connection().begin().await?;
    locker
        .execute(Statement::from_string(
            locker.get_database_backend(),
            "INSERT INTO catalog.products (account_id, client_id, sku, name) \
             VALUES ('acme', 'c1', 'A', 'elsewhere')",
        ))
        .await?;
    let job = JobId::new();
    let mut chain = BatchChain::starting_at(through(0));
    let spawn = |turn, rows: Vec<(u64, Product)>| {
        let (store, acme) = (store.clone(), acme.clone());
        tokio::spawn(async move {
            let catalog = store.catalog();
            catalog
                .apply_product_batch_in_turn(job, &acme, "c1", &rows, CREATE_OR_UPDATE, turn)
                .await
        })
    };
    let tasks = [
        spawn(chain.next(2, 0), numbered(&[product("A", "a"), product("B", "b")])),
        spawn(chain.next(4, 0), numbered_from(3, &[product("C", "c"), product("D", "d")])),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    while sessions(store).await? != (2, 1) {
        assert!(Instant::now() < deadline, "sessions: {:?}", sessions(store).await?);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(tasks.iter().all(|task| !task.is_finished()), "a batch ended before A was decided");
    Ok((locker, job, tasks))
}

#[tokio::test]
async fn a_batch_sharing_no_key_with_the_one_before_inserts_while_that_one_waits()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let (locker, job, tasks) = two_batches_behind_an_insert_of_a(&store).await?;

    locker.rollback().await?;
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await??.rows);
    }
    assert_eq!(outcomes, vec![RowOutcome::Created; 4]);
    let kept = store.catalog().get_product(&account("acme"), "c1", "A").await?;
    assert_eq!(kept.map(|found| found.name).as_deref(), Some("a"));
    assert_eq!(keys_of(&store, job).await?, (0, 4));
    Ok(())
}

#[tokio::test]
async fn a_check_pass_finds_the_keys_an_earlier_batch_deferred() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let catalog = store.catalog();
    let rows = numbered(&[product("A", "a"), product("B", "b")]);
    catalog.apply_product_batch_as(job, &acme, "c1", &rows, CREATE_OR_UPDATE, &through(0)).await?;

    let later = numbered_from(3, &[product("B", "b"), product("C", "c")]);
    let checked =
        catalog.check_product_batch(job, 1, &acme, "c1", &later, WriteMode::CreateOnly).await?;
    assert_eq!(checked, vec![Some(duplicate_of(2)), None]);
    Ok(())
}

#[tokio::test]
async fn a_batch_whose_predecessor_fails_after_it_inserted_leaves_neither_rows_nor_keys()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let (locker, job, [first, second]) = two_batches_behind_an_insert_of_a(&store).await?;

    // The first batch's session is lost while it waits in its insert.
    let connection = store.connection();
    let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'";
    connection
        .execute(Statement::from_string(connection.get_database_backend(), terminate))
        .await?;
    assert!(first.await?.is_err(), "the first batch lost its session");
    let second = second.await?;
    assert!(matches!(second, Err(Error::EarlierBatchNotCommitted)), "{second:?}");
    locker.rollback().await?;
    assert_eq!(store.catalog().count_products(&account("acme"), "c1").await?, 0);
    assert_eq!(keys_of(&store, job).await?, (0, 0));
    assert_eq!(store.catalog().checkpoint(job).await?, None);
    Ok(())
}
