//! Which attempts' job messages the broker has confirmed, so that no job stays New
//! without a message in the queue (docs/architecture.md, "Services and data flow", ingest).

use bgjobs_domain::JobId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Job;
use crate::convert::write_i32;
use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

impl JobsStore {
    /// Records that the message of `attempt` of `job` was published with a confirm.
    /// Never lowers what was recorded (a late confirm of an older attempt changes
    /// nothing). False when the job does not exist.
    pub async fn mark_published(&self, job: JobId, attempt: u32) -> Result<bool, Error> {
        let attempt = write_i32("attempt", attempt)?;
        let recorded =
            Expr::cust_with_values("GREATEST(COALESCE(published_attempt, 0), $1)", [attempt]);
        let updated = job_rows::Entity::update_many()
            .col_expr(job_rows::Column::PublishedAttempt, recorded)
            .filter(job_rows::Column::JobId.eq(job.as_uuid()))
            .exec(&self.connection)
            .await?;
        Ok(updated.rows_affected > 0)
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
}
