//! Fencing by attempt: a worker whose job attempt was superseded (a retry or a stall
//! recovery started a newer one, or the job has ended) must not commit anything.
//!
//! Every transaction that writes for a job first takes the job's fence lock shared,
//! then a key-share lock on the job's row in `jobs.jobs`, and checks that the row is at
//! the writer's attempt and New or In Progress. A change that may end an attempt's
//! right to write (a new attempt, an end) first takes the fence lock exclusively (see
//! [`exclude_writers`]), which waits for the writers' transactions to end, then locks
//! the row for update; so the answer a writer got holds until it commits.
//!
//! The fence lock is an advisory lock, because Postgres queues those fairly: once a
//! change waits for it, new writers wait behind the change. Row share locks are not
//! queued: a job whose batches overlap (several are open at once) always has one
//! holding the row's share lock, and an update of the row waited until the whole file
//! was written. The row lock is a key-share lock so that the updates that cannot end
//! an attempt (a worker's Started and Progress) do not wait for batches at all.
//!
//! A job with no row there (a store used without the registry, as in the store's own
//! tests) is not fenced.

use bgjobs_domain::{JobId, JobStatus};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};

use crate::Error;
use crate::convert::read_u32;

/// The statuses in which a job's current attempt may still write.
const WRITABLE: [JobStatus; 2] = [JobStatus::New, JobStatus::InProgress];

/// The key of a job's fence lock: a 64-bit hash of its id, apart from the clients'
/// lock keys. Two jobs sharing a key only make each other's changes wait a batch.
const FENCE_KEY: &str = "hashtextextended('job-fence/' || $1::text, 0)";

/// Whether an attempt of a job in `status` may write (it is not superseded by it).
pub(crate) fn writable(status: JobStatus) -> bool {
    WRITABLE.contains(&status)
}

/// Refuses ([`Error::Superseded`]) unless attempt `attempt` of `job` may still write,
/// holding the job's fence lock shared and its row's key-share lock for the rest of
/// `transaction`.
pub(crate) async fn refuse_unless_current(
    transaction: &DatabaseTransaction,
    job: JobId,
    attempt: u32,
) -> Result<(), Error> {
    // One round trip. Whichever the fence lock waited for, the row lock reads the
    // row's latest committed version (Postgres rechecks a row updated meanwhile).
    let sql = format!(
        "WITH fence AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({FENCE_KEY})) \
         SELECT attempt, status FROM fence, jobs.jobs WHERE job_id = $1 FOR KEY SHARE OF jobs"
    );
    let backend = transaction.get_database_backend();
    let statement = Statement::from_sql_and_values(backend, sql, [job.as_uuid().into()]);
    let Some(row) = transaction.query_one(statement).await? else {
        return Ok(());
    };
    let current = read_u32("attempt", row.try_get_by_index::<i32>(0)?)?;
    let status: String = row.try_get_by_index(1)?;
    if current == attempt && status.parse::<JobStatus>().is_ok_and(writable) {
        return Ok(());
    }
    Err(Error::Superseded { job, attempt, current, status })
}

/// Takes `job`'s fence lock exclusively until `transaction` ends: waits for the open
/// transactions writing for the job to end, and keeps new ones from beginning. To be
/// taken before the job's row is locked, by every change of its attempt or of whether
/// its status lets the attempt write.
pub(crate) async fn exclude_writers(
    transaction: &impl ConnectionTrait,
    job: JobId,
) -> Result<(), Error> {
    let lock = format!("SELECT pg_advisory_xact_lock({FENCE_KEY})");
    let statement = Statement::from_sql_and_values(
        transaction.get_database_backend(),
        lock,
        [job.as_uuid().into()],
    );
    transaction.execute(statement).await?;
    Ok(())
}
