//! What changed lately in the watched accounts: the jobs whose last change is recent,
//! for the registry's `WatchJobs` streams.

use bgjobs_domain::AccountId;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::Job;
use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

/// The most jobs one call returns; the caller asks again from the last one it got.
const MAX_CHANGED_JOBS: u64 = 500;

impl JobsStore {
    /// The jobs of `accounts` last changed strictly after `after`, oldest change first
    /// (then by job id), at most 500 per call. One query, whatever the number of
    /// accounts: the index on `(account_id, updated_at)` is read once per account.
    pub async fn jobs_changed_after(
        &self,
        accounts: &[AccountId],
        after: DateTime<Utc>,
    ) -> Result<Vec<Job>, Error> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        job_rows::Entity::find()
            .filter(job_rows::Column::AccountId.is_in(accounts.iter().map(AccountId::as_str)))
            .filter(job_rows::Column::UpdatedAt.gt(after))
            .order_by_asc(job_rows::Column::UpdatedAt)
            .order_by_asc(job_rows::Column::JobId)
            .limit(MAX_CHANGED_JOBS)
            .all(&self.connection)
            .await?
            .into_iter()
            .map(Job::try_from)
            .collect()
    }

    /// The database's current time, so a watch's starting point is on the same clock
    /// as the `updated_at` it compares with.
    pub async fn database_now(&self) -> Result<DateTime<Utc>, Error> {
        let backend = self.connection.get_database_backend();
        let row = self
            .connection
            .query_one(Statement::from_string(backend, "SELECT clock_timestamp() AS now"))
            .await?
            .ok_or_else(|| Error::Corrupt("SELECT clock_timestamp() returned no row".into()))?;
        Ok(row.try_get::<DateTime<Utc>>("", "now")?)
    }
}
