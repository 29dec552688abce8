//! The RPCs that move a job outside its worker's events: a user's retry, publishing
//! bookkeeping (which attempt has a confirmed message) and dead-lettered messages.

use bgjobs_database::JobsStore;
use bgjobs_database::jobs::Note;
use bgjobs_proto::v1::{
    AddJobNoteRequest, AddJobNoteResponse, FailDeadLetteredRequest, FailDeadLetteredResponse,
    ListUnpublishedJobsRequest, ListUnpublishedJobsResponse, ListUnstartedJobsRequest,
    ListUnstartedJobsResponse, MarkPublishedRequest, MarkPublishedResponse, RetryJobRequest,
    RetryJobResponse,
};
use chrono::Utc;

use super::{decode, encode};
use crate::error::Error;
use crate::metrics::RegistryMetrics;

/// How many jobs one ListUnpublishedJobs or ListUnstartedJobs answers unless asked otherwise.
const DEFAULT_SWEEP_LIMIT: u32 = 100;
/// The most one ListUnpublishedJobs or ListUnstartedJobs answers.
const MAX_SWEEP_LIMIT: u32 = 500;

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

/// Longest note: a log line, not a document.
const MAX_NOTE_CHARS: usize = 2000;

/// AddJobNote: a line in the job's log that changes nothing else.
pub async fn add_job_note(
    store: &JobsStore,
    request: AddJobNoteRequest,
) -> Result<AddJobNoteResponse, Error> {
    let account_id = decode::account_id(&request.account_id)?;
    let job_id = decode::job_id(&request.job_id)?;
    let note_id = request
        .note_id
        .parse::<uuid::Uuid>()
        .map_err(|_| Error::invalid(format!("note_id '{}' is not a UUID", request.note_id)))?;
    if request.attempt == 0 {
        return Err(Error::invalid("attempt must be 1 or more"));
    }
    let actor = decode::required_text(&request.actor, "actor")?;
    let message = decode::required_text(&request.message, "message")?;
    if message.chars().count() > MAX_NOTE_CHARS {
        return Err(Error::invalid(format!("message is longer than {MAX_NOTE_CHARS} characters")));
    }
    let note = Note {
        note_id,
        attempt: request.attempt,
        actor: actor.to_owned(),
        message: message.to_owned(),
        only_while_new: request.only_while_new,
    };
    let added =
        store.add_note(&account_id, job_id, &note).await?.ok_or(Error::JobNotFound(job_id))?;
    tracing::info!(%job_id, %account_id, actor, added, "note added to the job's log");
    Ok(AddJobNoteResponse { added })
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
    let limit = sweep_limit(request.limit)?;
    let updated_before = Utc::now() - chrono::Duration::seconds(i64::from(request.older_than_secs));
    let jobs = store.unpublished_jobs(updated_before, limit).await?;
    Ok(ListUnpublishedJobsResponse { jobs: jobs.into_iter().map(encode::job).collect() })
}

/// ListUnstartedJobs: New jobs whose current attempt was confirmed long ago and that
/// no worker started.
pub async fn list_unstarted_jobs(
    store: &JobsStore,
    request: ListUnstartedJobsRequest,
) -> Result<ListUnstartedJobsResponse, Error> {
    let limit = sweep_limit(request.limit)?;
    let before = Utc::now() - chrono::Duration::seconds(i64::from(request.older_than_secs));
    let jobs = store.unstarted_jobs(before, limit).await?;
    Ok(ListUnstartedJobsResponse { jobs: jobs.into_iter().map(encode::job).collect() })
}

/// The `limit` of a sweep's listing: 0 means the default.
fn sweep_limit(limit: u32) -> Result<u32, Error> {
    match limit {
        0 => Ok(DEFAULT_SWEEP_LIMIT),
        limit if limit <= MAX_SWEEP_LIMIT => Ok(limit),
        limit => Err(Error::invalid(format!(
            "limit {limit} is too large; ask for at most {MAX_SWEEP_LIMIT}"
        ))),
    }
}

/// FailDeadLettered: the message of an attempt was dead-lettered; a job this fails is
/// counted in `metrics`.
pub async fn fail_dead_lettered(
    store: &JobsStore,
    metrics: &RegistryMetrics,
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
        metrics.dead_lettered(job.job_type);
    }
    Ok(FailDeadLetteredResponse { job: Some(encode::job(job)), changed })
}
