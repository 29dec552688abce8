//! How long a job's attempt ran, from its message log.

use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::Error;

/// The time from attempt `attempt` of `job`'s first Started event to its last
/// Completed or Failed event, both as their publisher timed them (a resumed attempt
/// counts from its first delivery's start); `None` while the log lacks either, or when
/// the clocks put the end before the start.
pub(super) async fn attempt_duration(
    connection: &impl ConnectionTrait,
    job: Uuid,
    attempt: i32,
) -> Result<Option<std::time::Duration>, Error> {
    let statement = Statement::from_sql_and_values(
        connection.get_database_backend(),
        "SELECT EXTRACT(EPOCH FROM \
             max(occurred_at) FILTER (WHERE kind IN ('completed', 'failed')) \
             - min(occurred_at) FILTER (WHERE kind = 'started'))::float8 AS seconds \
         FROM jobs.job_events WHERE job_id = $1 AND attempt = $2",
        [job.into(), attempt.into()],
    );
    let row = connection.query_one(statement).await?;
    let seconds: Option<f64> = match row {
        Some(row) => row.try_get("", "seconds")?,
        None => None,
    };
    Ok(seconds.filter(|seconds| *seconds >= 0.0).map(std::time::Duration::from_secs_f64))
}
