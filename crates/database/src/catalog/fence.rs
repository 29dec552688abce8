//! Fencing by attempt: a worker whose job attempt was superseded (a retry or a stall
//! recovery started a newer one, or the job has ended) must not commit anything.
//!
//! Every transaction that writes for a job first takes a share lock on the job's row
//! in `jobs.jobs` and checks that the row is at the writer's attempt and New or In
//! Progress. The registry's change of attempt or status waits for that lock, so the
//! answer holds until the write commits. A job with no row there (a store used without
//! the registry, as in the store's own tests) is not fenced.

use bgjobs_domain::JobId;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};

use crate::Error;
use crate::convert::read_u32;

/// The statuses in which a job's current attempt may still write.
const WRITABLE: [&str; 2] = ["new", "in_progress"];

/// Refuses ([`Error::Superseded`]) unless attempt `attempt` of `job` may still write,
/// holding the job row's share lock for the rest of `transaction`.
pub(crate) async fn refuse_unless_current(
    transaction: &DatabaseTransaction,
    job: JobId,
    attempt: u32,
) -> Result<(), Error> {
    let backend = transaction.get_database_backend();
    let sql = "SELECT attempt, status FROM jobs.jobs WHERE job_id = $1 FOR SHARE";
    let statement = Statement::from_sql_and_values(backend, sql, [job.as_uuid().into()]);
    let Some(row) = transaction.query_one(statement).await? else {
        return Ok(());
    };
    let current = read_u32("attempt", row.try_get_by_index::<i32>(0)?)?;
    let status: String = row.try_get_by_index(1)?;
    if current == attempt && WRITABLE.contains(&status.as_str()) {
        return Ok(());
    }
    Err(Error::Superseded { job, attempt, current, status })
}
