//! A process frozen inside a transaction (SIGSTOP, a debugger, a stuck runtime) must
//! not hold its job's fence lock for ever: Postgres ends its session after
//! the idle-in-transaction timeout, so the registry can change the job again.

use std::time::{Duration, Instant};

use bgjobs_database::jobs::RecordOutcome;
use bgjobs_database::{Settings, Store};
use bgjobs_domain::{EventKind, JobStatus};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use crate::support::{account, event, new_job};

/// The session timeout as the server reports it for one of the store's connections.
async fn session_timeout(store: &Store) -> anyhow::Result<String> {
    let connection = store.connection();
    let statement = Statement::from_string(
        connection.get_database_backend(),
        "SHOW idle_in_transaction_session_timeout",
    );
    let row = connection.query_one(statement).await?.expect("SHOW returns a row");
    Ok(row.try_get_by_index::<String>(0)?)
}

#[tokio::test]
async fn connections_end_transactions_left_idle_for_ten_seconds_by_default() -> anyhow::Result<()> {
    let url = bgjobs_test_support::postgres::fresh_database().await?;
    let store = Store::connect(&url).await?;
    assert_eq!(session_timeout(&store).await?, "10s");
    Ok(())
}

#[tokio::test]
async fn a_frozen_transaction_is_ended_and_releases_the_job_row() -> anyhow::Result<()> {
    let url = bgjobs_test_support::postgres::fresh_database().await?;
    let timeout = Duration::from_secs(1);
    let settings = Settings { idle_in_transaction_timeout: timeout, ..Settings::default() };
    let store = Store::connect_with(&url, &settings).await?;
    store.migrate().await?;
    assert_eq!(session_timeout(&store).await?, "1s");
    let acme = account("acme");
    let job = store.jobs().create_job(new_job(&acme, "alice")).await?.0.job_id;

    let started = event(&acme, job, (1, 1, 1), EventKind::Started);
    store.jobs().record_event(started).await?;

    // What a batch does first (store fencing: the job's fence lock shared, the row's
    // key-share lock), then the worker freezes and sends nothing more.
    let frozen = store.connection().begin().await?;
    let fence =
        "SELECT pg_advisory_xact_lock_shared(hashtextextended('job-fence/' || $1::text, 0))";
    let read = "SELECT attempt FROM jobs.jobs WHERE job_id = $1 FOR KEY SHARE";
    for sql in [fence, read] {
        let values = [job.as_uuid().into()];
        frozen
            .query_one(Statement::from_sql_and_values(frozen.get_database_backend(), sql, values))
            .await?
            .expect("a row");
    }
    let frozen_at = Instant::now();

    // The registry's recording of the end waits for that batch until Postgres ends the
    // idle session; without the timeout it would wait for as long as the worker sleeps.
    let completed = event(&acme, job, (1, 1, 2), EventKind::Completed);
    let recorded =
        tokio::time::timeout(Duration::from_secs(30), store.jobs().record_event(completed))
            .await??;
    let waited = frozen_at.elapsed();
    assert!(matches!(recorded, RecordOutcome::Applied { status: JobStatus::Completed, .. }));
    assert!(
        waited >= timeout,
        "the write went through after {waited:?}, before the lock was released"
    );
    println!("the frozen transaction's lock was released after {waited:?}");

    // The frozen worker wakes up: its transaction is gone, and its next statement fails
    // with an error worth retrying (in a new transaction, which fencing then judges).
    let next = frozen.execute_unprepared("SELECT 1").await.expect_err("the session was ended");
    let next = bgjobs_database::Error::from(next);
    assert!(next.is_transient(), "not transient: {next}");
    assert!(next.to_string().contains("idle-in-transaction timeout"), "{next}");
    let committed = frozen.commit().await;
    assert!(committed.is_err(), "a transaction ended by the server committed: {committed:?}");
    Ok(())
}
