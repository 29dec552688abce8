//! `WatchJobs`, the stream behind the page's live updates: each change of the account's
//! jobs arrives once, as the job now is, and another account's changes never arrive.

use std::time::Duration;

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
