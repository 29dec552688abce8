//! The RPCs that move a job outside its worker's events: a user's retry, publishing
//! bookkeeping (which attempt has a confirmed message) and dead-lettered messages.

use bgjobs_database::JobsStore;
use bgjobs_proto::v1::{
    FailDeadLetteredRequest, FailDeadLetteredResponse, ListUnpublishedJobsRequest,
    ListUnpublishedJobsResponse, MarkPublishedRequest, MarkPublishedResponse, RetryJobRequest,
    RetryJobResponse,
};
use chrono::Utc;

use super::{decode, encode};
use crate::error::Error;

/// How many unpublished jobs one ListUnpublishedJobs answers unless asked otherwise.
const DEFAULT_UNPUBLISHED_LIMIT: u32 = 100;
/// The most one ListUnpublishedJobs answers.
const MAX_UNPUBLISHED_LIMIT: u32 = 500;

/// RetryJob: Error -> New on the next attempt, recorded as asked by the actor.
pub async fn retry_job(
    store: &JobsStore,
    request: RetryJobRequest,
) -> Result<RetryJobResponse, Error> {
    let account_id = decode::account_id(&request.account_id)?;
    let job_id = decode::job_id(&request.job_id)?;
    let actor = request.actor.trim();
    if actor.is_empty() {
        return Err(Error::invalid("actor is required: say who asks for the retry"));
    }
    let job = store
        .retry_job(&account_id, job_id, actor, &request.reason)
        .await?
        .ok_or(Error::JobNotFound(job_id))?;
    tracing::info!(%job_id, %account_id, actor, attempt = job.attempt, "job retried");
    Ok(RetryJobResponse { job: Some(encode::job(job)) })
}

/// MarkPublished: the broker confirmed the message of an attempt.
pub async fn mark_published(
    store: &JobsStore,
    request: MarkPublishedRequest,
) -> Result<MarkPublishedResponse, Error> {
    let job_id = decode::job_id(&request.job_id)?;
    if request.attempt == 0 {
        return Err(Error::invalid("attempt must be 1 or more"));
    }
    if !store.mark_published(job_id, request.attempt).await? {
        return Err(Error::JobNotFound(job_id));
    }
    Ok(MarkPublishedResponse {})
}

/// ListUnpublishedJobs: New jobs whose current attempt was never confirmed.
pub async fn list_unpublished_jobs(
    store: &JobsStore,
    request: ListUnpublishedJobsRequest,
) -> Result<ListUnpublishedJobsResponse, Error> {
    let limit = match request.limit {
        0 => DEFAULT_UNPUBLISHED_LIMIT,
        limit if limit <= MAX_UNPUBLISHED_LIMIT => limit,
        limit => {
            return Err(Error::invalid(format!(
                "limit {limit} is too large; ask for at most {MAX_UNPUBLISHED_LIMIT}"
            )));
        }
    };
    let updated_before = Utc::now() - chrono::Duration::seconds(i64::from(request.older_than_secs));
    let jobs = store.unpublished_jobs(updated_before, limit).await?;
    Ok(ListUnpublishedJobsResponse { jobs: jobs.into_iter().map(encode::job).collect() })
}

/// FailDeadLettered: the message of an attempt was dead-lettered.
pub async fn fail_dead_lettered(
    store: &JobsStore,
    request: FailDeadLetteredRequest,
) -> Result<FailDeadLetteredResponse, Error> {
    let account_id = decode::account_id(&request.account_id)?;
    let job_id = decode::job_id(&request.job_id)?;
    let cause = request.cause.trim();
    if cause.is_empty() {
        return Err(Error::invalid("cause is required: say why the message was dead-lettered"));
    }
    let (job, changed) = store
        .fail_dead_lettered(&account_id, job_id, request.attempt, cause)
        .await?
        .ok_or(Error::JobNotFound(job_id))?;
    if changed {
        tracing::warn!(%job_id, %account_id, attempt = request.attempt, cause, "dead-lettered job failed");
    }
    Ok(FailDeadLetteredResponse { job: Some(encode::job(job)), changed })
}
