//! The changes to a job that do not come from its worker's events: a user's retry of a
//! failed job, the recovery of a stalled one, and the failure of one whose message was
//! dead-lettered.

use bgjobs_domain::state_machine;
use bgjobs_domain::worker_loss::{self, StallRecovery};
use bgjobs_domain::{AccountId, JobId, JobStatus};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::Job;
use super::own_change::OwnChange;
use crate::catalog::fence::lock_job_excluding_writers;
use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

/// The actor of the changes the registry makes on its own.
pub const REGISTRY_ACTOR: &str = "jobs-registry";

impl JobsStore {
    /// Retry (docs/architecture.md, "Job state machine"): moves an Error job of `account` back to
    /// New on the next attempt, recorded as made by `actor` with "Retried by <actor>: <reason>" in
    /// the message log.
    ///
    /// `None` when the job does not exist for `account`; [`Error::NotRetryable`] when it
    /// is not in Error. Publishing the new attempt's message is the caller's job.
    pub async fn retry_job(
        &self,
        account: &AccountId,
        job: JobId,
        actor: &str,
        reason: &str,
    ) -> Result<Option<Job>, Error> {
        let transaction = self.connection.begin().await?;
        let Some(before) = lock_job(&transaction, job, Some(account)).await? else {
            return Ok(None);
        };
        let after = state_machine::retry(&before.state())?;
        let message = match reason.trim() {
            "" => format!("Retried by {actor}"),
            reason => format!("Retried by {actor}: {reason}"),
        };
        let retried =
            OwnChange { before: &before, after, message, actor }.write(&transaction).await?;
        transaction.commit().await?;
        Ok(Some(retried))
    }

    /// Jobs of every account in one of `statuses` whose last change is older than
    /// `updated_before`, least recently updated first, at most `limit`: the candidates of
    /// stall detection (In Progress without events).
    pub async fn stale_jobs(
        &self,
        statuses: &[JobStatus],
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, Error> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        job_rows::Entity::find()
            .filter(job_rows::Column::Status.is_in(statuses.iter().map(|status| status.as_str())))
            .filter(job_rows::Column::UpdatedAt.lt(updated_before))
            .order_by_asc(job_rows::Column::UpdatedAt)
            .limit(u64::from(limit))
            .all(&self.connection)
            .await?
            .into_iter()
            .map(Job::try_from)
            .collect()
    }

    /// Recovers `job` if it is still In Progress with no change since before
    /// `stalled_before`: New on the next attempt while it has fewer than
    /// `max_attempts`, else Error ("worker lost"). The new attempt fences the lost
    /// worker's writes. `None` when the job moved on meanwhile (or does not exist).
    pub async fn recover_stalled_job(
        &self,
        job: JobId,
        stalled_before: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<Job>, Error> {
        let transaction = self.connection.begin().await?;
        let Some(before) = lock_job(&transaction, job, None).await? else {
            return Ok(None);
        };
        if before.updated_at >= stalled_before {
            return Ok(None);
        }
        let silent_secs = (Utc::now() - before.updated_at).num_seconds().max(0).unsigned_abs();
        let Some(recovery) =
            worker_loss::recover_stalled(&before.state(), silent_secs, max_attempts)
        else {
            return Ok(None);
        };
        let (after, message) = match recovery {
            StallRecovery::Requeue { state, message } | StallRecovery::Fail { state, message } => {
                (state, message)
            }
        };
        let change = OwnChange { before: &before, after, message, actor: REGISTRY_ACTOR };
        let recovered = change.write(&transaction).await?;
        transaction.commit().await?;
        Ok(Some(recovered))
    }

    /// Fails `job` of `account` because the message of its attempt `attempt` was
    /// dead-lettered: Error with `cause` and, when the job was running, its last report.
    ///
    /// Idempotent: a job already ended, or on a newer attempt, is returned unchanged
    /// with `false`. `None` when the job does not exist for `account`.
    pub async fn fail_dead_lettered(
        &self,
        account: &AccountId,
        job: JobId,
        attempt: u32,
        cause: &str,
    ) -> Result<Option<(Job, bool)>, Error> {
        let transaction = self.connection.begin().await?;
        let Some(before) = lock_job(&transaction, job, Some(account)).await? else {
            return Ok(None);
        };
        let Some(after) = worker_loss::fail_dead_lettered(&before.state(), attempt) else {
            return Ok(Some((before, false)));
        };
        let message = if before.status == JobStatus::InProgress && !before.message.is_empty() {
            format!("{cause}; last report: {}", before.message)
        } else {
            cause.to_owned()
        };
        let change = OwnChange { before: &before, after, message, actor: REGISTRY_ACTOR };
        let failed = change.write(&transaction).await?;
        transaction.commit().await?;
        Ok(Some((failed, true)))
    }
}

/// The job, its row locked for update until `transaction` ends; when `account` is
/// given, only a job of that account. Every change here may supersede the attempt, so
/// the job's writers are excluded first (see `catalog::fence`).
async fn lock_job(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: Option<&AccountId>,
) -> Result<Option<Job>, Error> {
    lock_job_excluding_writers(transaction, job, account).await?.map(Job::try_from).transpose()
}
