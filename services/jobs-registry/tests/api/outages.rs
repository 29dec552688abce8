//! The applier through database failures: nothing is lost, nothing is applied out of order.

use bgjobs_proto::v1::{self, EventKind, JobStatus};
use bgjobs_test_support::wait;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, Statement, TransactionTrait,
};

use crate::events::{DEADLINE, event, log_of, wait_for_job};
use crate::helpers::{TestApp, spawn_app};

/// How many times JetStream has redelivered an event to the registry's consumer.
pub async fn redeliveries(app: &TestApp) -> anyhow::Result<usize> {
    let stream = async_nats::jetstream::new(app.nats.clone())
        .get_stream(app.names().events_stream())
        .await?;
    Ok(stream.consumer_info(&app.settings.consumer).await?.num_redelivered)
}

/// Locks `job`'s row (`FOR UPDATE`) in a transaction of its own on `database`, as a
/// long transaction on it would; the lock holds until that transaction ends.
pub async fn lock_job_row(
    database: &DatabaseConnection,
    job: &v1::Job,
) -> anyhow::Result<DatabaseTransaction> {
    let holder = database.begin().await?;
    holder
        .execute(Statement::from_sql_and_values(
            holder.get_database_backend(),
            "SELECT 1 FROM jobs.jobs WHERE job_id = $1::uuid FOR UPDATE",
            [job.job_id.clone().into()],
        ))
        .await?;
    Ok(holder)
}

/// Backends of the test's database waiting on a lock, other than `database`'s own.
pub async fn lock_waiters(database: &DatabaseConnection) -> anyhow::Result<Vec<i32>> {
    let rows = database
        .query_all(Statement::from_string(
            database.get_database_backend(),
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND pid <> pg_backend_pid()",
        ))
        .await?;
    Ok(rows.iter().map(|row| row.try_get("", "pid")).collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn an_event_failing_on_a_lost_connection_is_retried_in_place() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let database = Database::connect(app.settings.database_url.expose()).await?;
    // Hold the job's row, so the applier is caught waiting inside record_event...
    let holder = lock_job_row(&database, &job).await?;

    app.publisher.publish(&event(&job, 1, 1, EventKind::Started, "Started"), None).await?;
    let waiters = wait::until("the applier to wait on the row", DEADLINE, || async {
        let waiters = lock_waiters(&database).await?;
        Ok((!waiters.is_empty()).then_some(waiters))
    })
    .await?;
    // ...then cut its connection, as a database restart would.
    for pid in waiters {
        database
            .execute(Statement::from_sql_and_values(
                database.get_database_backend(),
                "SELECT pg_terminate_backend($1)",
                [pid.into()],
            ))
            .await?;
    }
    wait::until("the applier to try again", DEADLINE, || async {
        Ok((!lock_waiters(&database).await?.is_empty()).then_some(()))
    })
    .await?;
    holder.rollback().await?;

    wait_for_job(&app, &job, "the job to start", |job| job.status() == JobStatus::InProgress)
        .await?;
    assert_eq!(log_of(&app, &job).await?.len(), 1);
    assert_eq!(redeliveries(&app).await?, 0, "the event was retried in place, not nak'd");
    app.stop().await
}

#[tokio::test]
async fn an_event_failing_otherwise_is_redelivered_and_applied_once_the_fault_is_fixed()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    // A fault waiting does not cure: every insert into the log fails.
    let database = Database::connect(app.settings.database_url.expose()).await?;
    database.execute_unprepared("ALTER TABLE jobs.job_events RENAME TO job_events_away").await?;

    app.publisher.publish(&event(&job, 1, 1, EventKind::Started, "Started"), None).await?;
    wait::until("the event to be refused and redelivered", DEADLINE, || async {
        Ok((redeliveries(&app).await? > 0).then_some(()))
    })
    .await?;
    assert_eq!(app.get_job("acme", &job.job_id).await?.status(), JobStatus::New);

    database.execute_unprepared("ALTER TABLE jobs.job_events_away RENAME TO job_events").await?;
    wait_for_job(&app, &job, "the job to start", |job| job.status() == JobStatus::InProgress)
        .await?;
    assert_eq!(log_of(&app, &job).await?.len(), 1);
    app.stop().await
}
