//! `jobsctl jobs ...`: list, show and watch jobs through the registry's gRPC API, and
//! retry them through ingest's (ingest owns publishing job messages).

use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_identity::{Credentials, Service};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::ingest_client::IngestClient;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{
    GetJobRequest, Job, ListJobEventsRequest, ListJobsRequest, RetryJobRequest,
};
use tonic::transport::Channel;

use crate::render;

/// A registry client for `url` (e.g. `https://127.0.0.1:50051`), as jobsctl.
pub async fn connect(
    url: &str,
    credentials: &Credentials,
) -> anyhow::Result<JobsRegistryClient<Channel>> {
    let channel = credentials.endpoint(url, Service::JobsRegistry)?.connect().await;
    let channel = channel
        .map_err(|error| anyhow::anyhow!("cannot reach the jobs registry at {url}: {error}"))?;
    Ok(JobsRegistryClient::new(channel))
}

/// An ingest client for `url` (e.g. `https://127.0.0.1:50052`), as jobsctl.
pub async fn connect_ingest(
    url: &str,
    credentials: &Credentials,
) -> anyhow::Result<IngestClient<Channel>> {
    let channel = credentials.endpoint(url, Service::Ingest)?.connect().await;
    let channel =
        channel.map_err(|error| anyhow::anyhow!("cannot reach ingest at {url}: {error}"))?;
    Ok(IngestClient::new(channel))
}

/// An operator's retry of one job.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The job's account (tenant) id.
    pub account: String,
    /// The job to retry.
    pub job_id: String,
    /// Who retries: the job's Updated By and the log entry's actor.
    pub operator: String,
    /// Why, for the job's message log.
    pub reason: String,
}

/// Retries a job in Error through ingest and returns it, New on its next attempt.
/// The registry refuses a job that is not in Error, unknown or of another account,
/// with a message that is passed on as it is.
pub async fn retry(ingest: &mut IngestClient<Channel>, retry: Retry) -> anyhow::Result<Job> {
    if retry.operator.trim().is_empty() || retry.reason.trim().is_empty() {
        anyhow::bail!("--reason and --operator must not be empty; they go in the job's log");
    }
    let request = RetryJobRequest {
        account_id: retry.account,
        job_id: retry.job_id,
        actor: retry.operator,
        reason: retry.reason,
    };
    let answer = ingest.retry_job(request).await.map_err(status_error)?.into_inner();
    answer.job.ok_or_else(|| anyhow::anyhow!("ingest answered the retry without the job"))
}

/// Prints the newest jobs of `account`.
pub async fn list(
    registry: &mut JobsRegistryClient<Channel>,
    account: &str,
    limit: u32,
) -> anyhow::Result<()> {
    let request =
        ListJobsRequest { account_id: account.to_owned(), page_size: limit, ..Default::default() };
    let jobs = registry.list_jobs(request).await.map_err(status_error)?.into_inner().jobs;
    if jobs.is_empty() {
        println!("no jobs in account {account}");
    }
    for job in &jobs {
        println!("{}", render::job_line(job));
    }
    Ok(())
}

/// Prints one job and its message log.
pub async fn show(
    registry: &mut JobsRegistryClient<Channel>,
    account: &str,
    job_id: &str,
) -> anyhow::Result<()> {
    let job = get(registry, account, job_id).await?;
    println!("{}", render::job_details(&job));
    println!("log:");
    for entry in log(registry, account, job_id).await? {
        println!("  {}", render::log_line(&entry));
    }
    Ok(())
}

/// Prints the job's message log as it grows, until the job is Completed or Error
/// (or `timeout` passes). Returns the final job.
pub async fn watch(
    registry: &mut JobsRegistryClient<Channel>,
    account: &str,
    job_id: &str,
    timeout: Duration,
) -> anyhow::Result<Job> {
    let give_up_at = tokio::time::Instant::now() + timeout;
    let mut printed = 0;
    loop {
        let job = get(registry, account, job_id).await?;
        let entries = log(registry, account, job_id).await?;
        for entry in entries.iter().skip(printed) {
            println!("{}", render::log_line(entry));
        }
        printed = printed.max(entries.len());
        if job_status_from_proto(job.status).is_some_and(JobStatus::is_terminal) {
            return Ok(job);
        }
        if tokio::time::Instant::now() >= give_up_at {
            anyhow::bail!("job {job_id} is still {} after {timeout:?}", render::status(job.status));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get(
    registry: &mut JobsRegistryClient<Channel>,
    account: &str,
    job_id: &str,
) -> anyhow::Result<Job> {
    let request = GetJobRequest { account_id: account.to_owned(), job_id: job_id.to_owned() };
    let response = registry.get_job(request).await.map_err(status_error)?.into_inner();
    response.job.ok_or_else(|| anyhow::anyhow!("the registry answered without a job"))
}

async fn log(
    registry: &mut JobsRegistryClient<Channel>,
    account: &str,
    job_id: &str,
) -> anyhow::Result<Vec<bgjobs_proto::v1::LogEntry>> {
    let request =
        ListJobEventsRequest { account_id: account.to_owned(), job_id: job_id.to_owned() };
    Ok(registry.list_job_events(request).await.map_err(status_error)?.into_inner().entries)
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", status.message())
}
