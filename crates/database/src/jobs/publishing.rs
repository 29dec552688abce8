//! Which attempts' job messages the broker has confirmed, and when, so that no job
//! stays New without a message in the queue (docs/architecture.md, "Services and data
//! flow", ingest): neither one never published nor one whose message was lost.

use bgjobs_domain::JobId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};

use super::Job;
use crate::convert::write_i32;
use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

impl JobsStore {
    /// Records that the message of `attempt` of `job` was published with a confirm, and
    /// when (for an attempt at least as new as the one recorded). Never lowers what was
    /// recorded (a late confirm of an older attempt changes nothing). False when the
    /// job does not exist.
    pub async fn mark_published(&self, job: JobId, attempt: u32) -> Result<bool, Error> {
        let attempt = write_i32("attempt", attempt)?;
        // `published_attempt` on the right is the value before this update.
        let sql = "UPDATE jobs.jobs SET \
                   published_attempt = GREATEST(COALESCE(published_attempt, 0), $2), \
                   published_at = CASE WHEN $2 >= COALESCE(published_attempt, 0) \
                                  THEN clock_timestamp() ELSE published_at END \
                   WHERE job_id = $1";
        let statement = Statement::from_sql_and_values(
            self.connection.get_database_backend(),
            sql,
            [job.as_uuid().into(), attempt.into()],
        );
        let updated = self.connection.execute(statement).await?;
        Ok(updated.rows_affected() > 0)
    }

    /// Jobs of every account that are New on an attempt whose message was never
    /// confirmed, unchanged since before `updated_before`, oldest first, at most `limit`.
    pub async fn unpublished_jobs(
        &self,
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, Error> {
        let unpublished = Condition::any().add(job_rows::Column::PublishedAttempt.is_null()).add(
            Expr::col(job_rows::Column::PublishedAttempt).lt(Expr::col(job_rows::Column::Attempt)),
        );
        job_rows::Entity::find()
            .filter(job_rows::Column::Status.eq(bgjobs_domain::JobStatus::New.as_str()))
            .filter(unpublished)
            .filter(job_rows::Column::UpdatedAt.lt(updated_before))
            .order_by_asc(job_rows::Column::UpdatedAt)
            .limit(u64::from(limit))
            .all(&self.connection)
            .await?
            .into_iter()
            .map(Job::try_from)
            .collect()
    }

    /// Jobs of every account that are still New although the message of their current
    /// attempt was confirmed, with neither a change nor a confirmed publish since
    /// before `before`, least recently changed first, at most `limit`: no worker has
    /// started them, so their message may be lost.
    pub async fn unstarted_jobs(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, Error> {
        let published =
            Expr::col(job_rows::Column::PublishedAttempt).gte(Expr::col(job_rows::Column::Attempt));
        // Published before the column existed: the last change is all there is to go by.
        let published_before =
            Expr::cust_with_values("COALESCE(published_at, updated_at) < $1", [before]);
        job_rows::Entity::find()
            .filter(job_rows::Column::Status.eq(bgjobs_domain::JobStatus::New.as_str()))
            .filter(published)
            .filter(job_rows::Column::UpdatedAt.lt(before))
            .filter(published_before)
            .order_by_asc(job_rows::Column::UpdatedAt)
            .limit(u64::from(limit))
            .all(&self.connection)
            .await?
            .into_iter()
            .map(Job::try_from)
            .collect()
    }
}
