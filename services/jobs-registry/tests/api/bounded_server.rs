//! The registry's gRPC server keeps its bounds: a client that dribbles its TLS
//! handshake is disconnected, a call that takes longer than the request timeout is
//! cancelled while WatchJobs streams on past it, and calls beyond the concurrency
//! limit are refused at once while the admitted ones complete.

use std::time::{Duration, Instant};

use bgjobs_proto::v1::{self, AddJobNoteRequest, JobStatus, WatchJobsRequest};
use bgjobs_test_support::wait;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, TransactionTrait,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_with};

const SHORT: Duration = Duration::from_secs(2);

fn note(job: &v1::Job, message: &str) -> AddJobNoteRequest {
    AddJobNoteRequest {
        account_id: job.account_id.clone(),
        job_id: job.job_id.clone(),
        note_id: Uuid::now_v7().to_string(),
        attempt: 1,
        actor: "notifier".into(),
        message: message.into(),
        only_while_new: false,
    }
}

/// Holds `job`'s row in an open transaction: a note on it waits until it ends.
async fn hold_row(
    app: &TestApp,
    job: &v1::Job,
) -> anyhow::Result<(DatabaseConnection, DatabaseTransaction)> {
    let database = Database::connect(app.settings.database_url.expose()).await?;
    let holder = database.begin().await?;
    holder
        .execute_unprepared(&format!(
            "UPDATE jobs.jobs SET updated_at = updated_at WHERE job_id = '{}'",
            job.job_id
        ))
        .await?;
    Ok((database, holder))
}

/// How many sessions of the test's database wait for a lock.
async fn lock_waiters(database: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = database
        .query_one(sea_orm::Statement::from_string(
            database.get_database_backend(),
            "SELECT count(*) AS waiting FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND datname = current_database()",
        ))
        .await?;
    Ok(row.map(|row| row.try_get::<i64>("", "waiting")).transpose()?.unwrap_or(0))
}

#[tokio::test]
async fn a_client_dribbling_its_tls_handshake_is_disconnected_within_the_header_timeout()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.limits.header_timeout = SHORT).await?;
    let mut connection = TcpStream::connect(app.grpc_addr).await?;
    let started = Instant::now();
    // The first bytes of a TLS ClientHello, one a quarter second, never the rest.
    let dribbling = async {
        for byte in
            [0x16_u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03].iter().cycle()
        {
            if connection.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let _gave_up = tokio::time::timeout(SHORT * 5, dribbling).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(SHORT, connection.read_to_end(&mut rest)).await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "the connection was still open after {elapsed:?}");
    assert!(elapsed >= SHORT, "closed after {elapsed:?}, before the header timeout");
    assert!(elapsed < SHORT * 4, "closed only after {elapsed:?}");
    // The server still serves others.
    app.create_job("acme").await?;
    app.stop().await
}

#[tokio::test]
async fn a_call_past_the_request_timeout_is_cancelled_while_watch_jobs_streams_on()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.limits.request_timeout = SHORT).await?;
    let request = WatchJobsRequest { account_id: "acme".into() };
    let mut watch = app.client.clone().watch_jobs(request).await?.into_inner();
    let watch_started = Instant::now();

    let job = app.create_job("acme").await?;
    let (_database, holder) = hold_row(&app, &job).await?;
    let started = Instant::now();
    let status = app.client.clone().add_job_note(note(&job, "slow")).await.err();
    let elapsed = started.elapsed();
    let status = status.ok_or_else(|| anyhow::anyhow!("the held note was answered"))?;
    // tonic ends a call past the server's timeout as CANCELLED "Timeout expired".
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(elapsed >= SHORT && elapsed < SHORT * 3, "cancelled after {elapsed:?}");
    holder.rollback().await?;

    // The watch opened before all this is still streaming, well past the timeout.
    let second = app.create_job("acme").await?;
    let reading = async {
        loop {
            let message = watch.message().await?;
            let job = message.and_then(|m| m.job).ok_or_else(|| anyhow::anyhow!("it ended"))?;
            if job.job_id == second.job_id && job.status() == JobStatus::New {
                return anyhow::Ok(());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reading).await??;
    let streamed_for = watch_started.elapsed();
    assert!(streamed_for > SHORT, "the watch streamed only {streamed_for:?}");
    app.stop().await
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_refused_at_once_and_admitted_ones_complete()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.limits.max_concurrent_requests = 2).await?;
    let job = app.create_job("acme").await?;
    let (database, holder) = hold_row(&app, &job).await?;
    let mut admitted = Vec::new();
    for number in 0..2 {
        let mut client = app.client.clone();
        let request = note(&job, &format!("admitted {number}"));
        admitted.push(tokio::spawn(async move { client.add_job_note(request).await }));
    }
    wait::until("both notes to wait for the row", Duration::from_secs(10), || async {
        Ok((lock_waiters(&database).await? >= 2).then_some(()))
    })
    .await?;

    let started = Instant::now();
    let refused = app.get_job("acme", &job.job_id).await.err();
    let elapsed = started.elapsed();
    let refused = refused.ok_or_else(|| anyhow::anyhow!("a third call was served"))?;
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("limit"), "{refused:?}");
    assert!(elapsed < Duration::from_secs(1), "refused only after {elapsed:?}");

    holder.rollback().await?;
    for call in admitted {
        assert!(call.await?.is_ok(), "an admitted call failed");
    }
    // Capacity is back.
    app.get_job("acme", &job.job_id).await?;
    app.stop().await
}
