//! `WatchJobs`, the stream behind the page's live updates: each change of the account's
//! jobs arrives once, as the job now is, and another account's changes never arrive.

use std::time::Duration;

use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{self, EventKind, JobStatus, WatchJobsRequest, WatchJobsResponse};
use tonic::{Code, Streaming};

use crate::events::{DEADLINE, event};
use crate::helpers::{TestApp, spawn_app};

/// A watch of one account's changes, keeping everything it received.
struct Watch {
    stream: Streaming<WatchJobsResponse>,
    received: Vec<v1::Job>,
}

impl Watch {
    async fn start(app: &TestApp, account: &str) -> anyhow::Result<Self> {
        let request = WatchJobsRequest { account_id: account.into() };
        let stream = app.client.clone().watch_jobs(request).await?.into_inner();
        Ok(Self { stream, received: Vec::new() })
    }

    /// Reads the stream until a message shows `job_id` in `status`.
    async fn until(&mut self, job_id: &str, status: JobStatus) -> anyhow::Result<()> {
        let reading = async {
            loop {
                let message = self.stream.message().await?;
                let job = message.and_then(|m| m.job).ok_or_else(|| {
                    anyhow::anyhow!("the stream ended before job {job_id} was {status:?}")
                })?;
                let found = job.job_id == job_id && job.status == status as i32;
                self.received.push(job);
                if found {
                    return anyhow::Ok(());
                }
            }
        };
        tokio::time::timeout(DEADLINE, reading).await.map_err(|_| {
            anyhow::anyhow!("job {job_id} was not streamed as {status:?} within {DEADLINE:?}")
        })?
    }

    /// (job id, status) of each message received, in order.
    fn changes(&self) -> Vec<(String, i32)> {
        self.received.iter().map(|job| (job.job_id.clone(), job.status)).collect()
    }
}

#[tokio::test]
async fn each_change_of_the_account_arrives_once_and_no_other_accounts() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut acme = Watch::start(&app, "acme").await?;
    let mut globex = Watch::start(&app, "globex").await?;

    // Each step waits for the stream, so every change is its own poll and the
    // stream must show each one, once, however many polls look back over it.
    let first = app.create_job("acme").await?;
    acme.until(&first.job_id, JobStatus::New).await?;
    app.publisher.publish(&event(&first, 1, 1, EventKind::Started, "Started"), None).await?;
    acme.until(&first.job_id, JobStatus::InProgress).await?;
    let theirs = app.create_job("globex").await?;
    globex.until(&theirs.job_id, JobStatus::New).await?;
    let failed = event(&first, 1, 2, EventKind::Failed, "the file is not CSV");
    app.publisher.publish(&failed, None).await?;
    acme.until(&first.job_id, JobStatus::Error).await?;
    app.retry(&first, "Omar Operator").await?;
    let second = app.create_job("acme").await?;
    acme.until(&second.job_id, JobStatus::New).await?;

    let first_id = first.job_id.clone();
    assert_eq!(
        acme.changes(),
        vec![
            (first_id.clone(), JobStatus::New as i32),
            (first_id.clone(), JobStatus::InProgress as i32),
            (first_id.clone(), JobStatus::Error as i32),
            (first_id, JobStatus::New as i32),
            (second.job_id.clone(), JobStatus::New as i32),
        ],
        "globex's job {} must not appear",
        theirs.job_id
    );
    // The message is the job as it now is: the retry's attempt and who asked for it.
    let after_retry = &acme.received[3];
    assert_eq!((after_retry.attempt, after_retry.updated_by.as_str()), (2, "Omar Operator"));
    assert_eq!(globex.changes(), vec![(theirs.job_id.clone(), JobStatus::New as i32)]);
    assert!(globex.received.iter().all(|job| job.account_id == "globex"));
    app.stop().await
}

#[tokio::test]
async fn a_watch_without_a_valid_account_is_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    for account in ["", "acme/../globex"] {
        let request = WatchJobsRequest { account_id: account.into() };
        let status = app.client.clone().watch_jobs(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{account:?}: {status:?}");
    }
    app.stop().await
}

#[tokio::test]
async fn an_open_watch_ends_when_the_registry_stops_instead_of_holding_up_shutdown()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut watch = Watch::start(&app, "acme").await?;
    let job = app.create_job("acme").await?;
    watch.until(&job.job_id, JobStatus::New).await?;

    // Well within the 25 s shutdown grace, which an open stream used to use up.
    let stopping = tokio::time::timeout(Duration::from_secs(5), app.stop()).await;
    stopping.map_err(|_| anyhow::anyhow!("the registry took over 5 s to stop"))??;
    let end = tokio::time::timeout(Duration::from_secs(5), watch.stream.message()).await?;
    assert!(!matches!(end, Ok(Some(_))), "the stream went on after the stop: {end:?}");
    Ok(())
}

/// Statements the registry ran in its database so far, as Postgres counts them: each
/// statement outside a transaction is one transaction of `pg_stat_database`. Backends
/// report their counts when idle, at most once a second, so a count lags a little.
async fn transactions_of(app: &TestApp) -> anyhow::Result<i64> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let url = app.settings.database_url.expose();
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    let admin =
        Database::connect(format!("{}/postgres", bgjobs_test_support::postgres::server_url()))
            .await?;
    let row = admin
        .query_one(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database \
             WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("pg_stat_database has no row for {name}"))?;
    admin.close().await?;
    Ok(row.try_get::<i64>("", "n")?)
}

#[tokio::test]
async fn open_watches_share_one_poll_of_the_database() -> anyhow::Result<()> {
    const WATCHES: usize = 20;
    const WINDOW: Duration = Duration::from_secs(5);
    let app = spawn_app().await?;
    let mut watches = Vec::new();
    for index in 0..WATCHES {
        // Several accounts, as on a busy registry.
        watches.push(Watch::start(&app, &format!("acme{}", index % 4)).await?);
    }
    // Every watch is live: each sees a change of its account.
    let mut jobs = Vec::new();
    for account in 0..4 {
        jobs.push(app.create_job(&format!("acme{account}")).await?);
    }
    for (index, watch) in watches.iter_mut().enumerate() {
        watch.until(&jobs[index % 4].job_id, JobStatus::New).await?;
    }

    // A measuring window, not a wait for something to happen: nothing changes in it,
    // and what the registry asks its database meanwhile is what the open watches cost.
    let before = transactions_of(&app).await?;
    tokio::time::sleep(WINDOW).await;
    let during = transactions_of(&app).await? - before;
    let per_second = during as f64 / WINDOW.as_secs_f64();
    println!("{WATCHES} open watches: {during} statements in {WINDOW:?} ({per_second:.1}/s)");
    // One poll every 500 ms is 10 in the window (give or take the reporting lag);
    // a poll per watch would be 200.
    assert!(
        (3..=30).contains(&during),
        "{WATCHES} open watches cost {during} statements in {WINDOW:?}; \
         one shared poll costs about 10"
    );
    drop(watches);
    app.stop().await
}

#[tokio::test]
async fn a_watch_that_stops_reading_is_ended_and_holds_up_no_other_watch() -> anyhow::Result<()> {
    use futures::StreamExt;
    use std::collections::HashSet;
    // More than a watch may fall behind (1,024) plus what its connection buffers.
    const JOBS: usize = 2_000;
    let app = spawn_app().await?;
    // A connection of its own with a small window, so that what the stalled watch
    // does not read backs up into the registry soon (a browser that stops reading
    // does the same through the gateway).
    let small_window = bgjobs_test_support::pki::credentials(bgjobs_identity::Service::Gateway)
        .endpoint(&format!("https://{}", app.grpc_addr), bgjobs_identity::Service::JobsRegistry)?
        .initial_stream_window_size(16 * 1024)
        .connect()
        .await?;
    let request = WatchJobsRequest { account_id: "acme".into() };
    let mut stalled = JobsRegistryClient::new(small_window).watch_jobs(request).await?.into_inner();
    let mut reading = Watch::start(&app, "acme").await?;

    // Two creations at a time: at most about a thousand changes a second, well under
    // what a watch may have waiting after one poll (1,024 per 500 ms), so the reading
    // watch keeps up even on a busy machine; the stalled one still falls behind.
    let creating = futures::stream::iter(0..JOBS)
        .map(|_| app.create_job("acme"))
        .buffer_unordered(2)
        .collect::<Vec<_>>();
    // The reading watch gets every job while the stalled one reads nothing.
    let reading_all = async {
        let mut seen = HashSet::new();
        while seen.len() < JOBS {
            let message = reading.stream.message().await?;
            let job = message.and_then(|m| m.job).ok_or_else(|| {
                anyhow::anyhow!("the reading watch ended after {} jobs", seen.len())
            })?;
            seen.insert(job.job_id);
        }
        anyhow::Ok(seen)
    };
    let (created, seen) = tokio::time::timeout(Duration::from_secs(90), async {
        tokio::join!(creating, reading_all)
    })
    .await
    .map_err(|_| anyhow::anyhow!("the reading watch did not get every job within 90 s"))?;
    let created: HashSet<String> =
        created.into_iter().map(|job| job.map(|job| job.job_id)).collect::<anyhow::Result<_>>()?;
    assert_eq!(seen?, created);

    // The stalled watch, read at last, gives what was buffered for it, then the end.
    let draining = async {
        let mut received = 0;
        loop {
            match stalled.message().await {
                Ok(Some(_)) => received += 1,
                Ok(None) => anyhow::bail!("the stalled watch ended without a status"),
                Err(status) => return anyhow::Ok((received, status)),
            }
        }
    };
    let (received, status) = tokio::time::timeout(DEADLINE, draining).await??;
    println!("the stalled watch got {received} of {JOBS} changes, then {status:?}");
    assert!(received < JOBS, "the stalled watch got all {received} changes");
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(bgjobs_proto::ErrorCode::of(&status), Some(bgjobs_proto::ErrorCode::FellBehind));
    assert!(status.message().contains("reconnect and reload"), "{status:?}");
    app.stop().await
}
