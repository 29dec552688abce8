//! A hung statement or a lock wait behind a hung holder must not block a worker for
//! ever: Postgres cancels it after the store's statement or lock timeout, and the
//! error is one worth retrying. Migrations are exempt from both.

use std::time::{Duration, Instant};

use bgjobs_database::{Settings, Store};
use bgjobs_domain::JobId;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use crate::support::account;

/// A session setting as the server reports it for one of the store's connections.
async fn show(store: &Store, setting: &str) -> anyhow::Result<String> {
    let connection = store.connection();
    let statement =
        Statement::from_string(connection.get_database_backend(), format!("SHOW {setting}"));
    let row = connection.query_one(statement).await?.expect("SHOW returns a row");
    Ok(row.try_get_by_index::<String>(0)?)
}

/// A migrated store on a fresh database with these statement and lock timeouts.
async fn impatient_store(statement: u64, lock: u64) -> anyhow::Result<(String, Store)> {
    let url = bgjobs_test_support::postgres::fresh_database().await?;
    let settings = Settings {
        statement_timeout: Duration::from_secs(statement),
        lock_timeout: Duration::from_secs(lock),
        ..Settings::default()
    };
    let store = Store::connect_with(&url, &settings).await?;
    store.migrate().await?;
    Ok((url, store))
}

#[tokio::test]
async fn connections_bound_statements_to_a_minute_and_lock_waits_to_30_seconds_by_default()
-> anyhow::Result<()> {
    let url = bgjobs_test_support::postgres::fresh_database().await?;
    let store = Store::connect(&url).await?;
    assert_eq!(show(&store, "statement_timeout").await?, "1min");
    assert_eq!(show(&store, "lock_timeout").await?, "30s");
    Ok(())
}

#[tokio::test]
async fn a_statement_running_past_the_timeout_is_cancelled_with_a_transient_error()
-> anyhow::Result<()> {
    let (_, store) = impatient_store(1, 1).await?;
    let started = Instant::now();
    // Without the timeout this statement would take 10 s and succeed.
    let hung = store.connection().execute_unprepared("SELECT pg_sleep(10)").await;
    let waited = started.elapsed();
    let error = bgjobs_database::Error::from(hung.expect_err("the statement was not cancelled"));
    assert!(error.to_string().contains("statement timeout"), "{error}");
    assert!(error.is_transient(), "not transient: {error}");
    assert!(waited < Duration::from_secs(5), "cancelled only after {waited:?}");
    println!("the sleeping statement was cancelled after {waited:?}");
    Ok(())
}

#[tokio::test]
async fn a_deleter_waiting_past_the_lock_timeout_gets_a_transient_error_and_then_goes_on()
-> anyhow::Result<()> {
    // The lock wait counts towards the statement's time too: a longer statement
    // timeout shows which of the two ended it.
    let (url, store) = impatient_store(5, 1).await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "A client").await?;

    // A hung deleter of the same client holds the client's lock (what
    // `delete_client_batch` takes), in a session of its own.
    let holder = Store::connect(&url).await?;
    let hung = holder.connection().begin().await?;
    hung.execute(Statement::from_sql_and_values(
        hung.get_database_backend(),
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
        [acme.as_str().into(), "client-1".into()],
    ))
    .await?;

    let job = JobId::new();
    let started = Instant::now();
    let waited_out = store.catalog().delete_client_batch(job, 1, &acme, "client-1", 1000).await;
    let waited = started.elapsed();
    let error = waited_out.expect_err("the deleter got the lock a hung deleter holds");
    assert!(error.to_string().contains("lock timeout"), "{error}");
    assert!(error.is_transient(), "not transient: {error}");
    assert!(waited < Duration::from_secs(4), "gave up only after {waited:?}");

    // Once the holder is gone, trying again deletes the client.
    hung.rollback().await?;
    let step = store.catalog().delete_client_batch(job, 1, &acme, "client-1", 1000).await?;
    assert_eq!(
        step,
        bgjobs_database::catalog::delete_client::DeleteStep::ClientDeleted { existed: true }
    );
    Ok(())
}

#[tokio::test]
async fn a_migration_is_not_bounded_by_the_timeouts() -> anyhow::Result<()> {
    let (url, store) = impatient_store(1, 1).await?;
    // Another replica migrating holds the migration lock for longer than the lock
    // timeout; this one waits for it instead of failing its start.
    let other = Store::connect(&url).await?;
    let migrating = other.connection().begin().await?;
    migrating.execute_unprepared("SELECT pg_advisory_xact_lock(x'62676a6f6273'::bigint)").await?;
    let release = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        migrating.commit().await
    };
    let (migrated, released) = tokio::join!(store.migrate(), release);
    released?;
    migrated?;
    Ok(())
}
