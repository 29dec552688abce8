//! What a job's attempt ended with: its final counters, and how long it ran by its
//! message log.

use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use super::Counters;
use crate::Error;
use crate::convert::read_u64;

/// The job row's counters, and the time from the attempt's first Started event to its
/// last Completed or Failed event, both as their publisher timed them (a resumed
/// attempt counts from its first delivery's start), in one round trip.
const ENDED_ATTEMPT: &str = "\
SELECT rows_total, rows_processed, rows_rejected,
       (SELECT EXTRACT(EPOCH FROM
                   max(occurred_at) FILTER (WHERE kind IN ('completed', 'failed'))
                   - min(occurred_at) FILTER (WHERE kind = 'started'))::float8
        FROM jobs.job_events WHERE job_id = $1 AND attempt = $2) AS seconds
FROM jobs.jobs WHERE job_id = $1";

/// What attempt `attempt` of `job` ended with: the counters on the job's row, and how
/// long the attempt ran; `None` for the time while the log lacks either end, or when
/// the clocks put the end before the start.
pub(super) async fn ended_attempt(
    connection: &impl ConnectionTrait,
    job: Uuid,
    attempt: i32,
) -> Result<(Counters, Option<std::time::Duration>), Error> {
    let statement = Statement::from_sql_and_values(
        connection.get_database_backend(),
        ENDED_ATTEMPT,
        [job.into(), attempt.into()],
    );
    let row = connection
        .query_one(statement)
        .await?
        .ok_or_else(|| Error::Corrupt("the job vanished while locked".into()))?;
    let counters = Counters {
        rows_total: read_u64("rows_total", row.try_get_by_index(0)?)?,
        rows_processed: read_u64("rows_processed", row.try_get_by_index(1)?)?,
        rows_rejected: read_u64("rows_rejected", row.try_get_by_index(2)?)?,
    };
    let seconds: Option<f64> = row.try_get_by_index(3)?;
    let ran_for = seconds.filter(|seconds| *seconds >= 0.0).map(std::time::Duration::from_secs_f64);
    Ok((counters, ran_for))
}
