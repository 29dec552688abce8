//! Fencing by attempt: a worker whose job attempt was superseded (a retry or a stall
//! recovery started a newer one, or the job has ended) must not commit anything.
//!
//! Every transaction that writes for a job first takes the job's fence lock shared,
//! then a key-share lock on the job's row in `jobs.jobs`, and checks that the row is at
//! the writer's attempt and New or In Progress. A change that may end an attempt's
//! right to write (a new attempt, an end) first takes the fence lock exclusively (see
//! [`lock_job_excluding_writers`]), which waits for the writers' transactions to end, then locks
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

use bgjobs_domain::{AccountId, JobId, JobStatus};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};

use crate::Error;
use crate::convert::read_u32;
use crate::entities::jobs as job_rows;

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
    transaction: &impl ConnectionTrait,
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

/// Takes `job`'s fence lock exclusively until `transaction` ends, then locks the job's
/// row for update and returns it (of `account` only, when given), in one round trip:
/// waits for the open transactions writing for the job to end, and keeps new ones from
/// beginning. For every change of the job's attempt or of whether its status lets the
/// attempt write. Whichever the fence lock waited for, the row lock returns the row's
/// latest committed version.
pub(crate) async fn lock_job_excluding_writers(
    transaction: &impl ConnectionTrait,
    job: JobId,
    account: Option<&AccountId>,
) -> Result<Option<job_rows::Model>, Error> {
    let sql = format!(
        "WITH fence AS MATERIALIZED (SELECT pg_advisory_xact_lock({FENCE_KEY})) \
         SELECT jobs.* FROM fence, jobs.jobs \
         WHERE job_id = $1 AND ($2::text IS NULL OR account_id = $2) FOR UPDATE OF jobs"
    );
    let account = account.map(|account| account.as_str().to_owned());
    let values = [job.as_uuid().into(), account.into()];
    let statement = Statement::from_sql_and_values(transaction.get_database_backend(), sql, values);
    Ok(job_rows::Entity::find().from_raw_sql(statement).one(transaction).await?)
}
