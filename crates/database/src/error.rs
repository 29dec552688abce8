//! The store's error type.

use sea_orm::{DbErr, RuntimeErr};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused the statement or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The first connection to the database could not be made.
    #[error("cannot connect to the database at {server}: {source}")]
    Connect {
        /// The database's URL, its password redacted.
        server: String,
        /// Why.
        source: DbErr,
    },
    /// The request collides with existing data it must not touch (e.g. a job id of another account).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A job for a client was refused because a Delete Client job of that client is
    /// New or In Progress.
    #[error(
        "client '{client_id}' is being deleted by job {delete_job}; uploads for this client are refused until it finishes"
    )]
    ClientLocked {
        /// The client being deleted.
        client_id: String,
        /// The unfinished Delete Client job.
        delete_job: bgjobs_domain::JobId,
    },
    /// A second deletion of a client was refused because a Delete Client job of that
    /// client (not a dry run) is New or In Progress.
    #[error(
        "client '{client_id}' is already being deleted by job {delete_job}; another deletion of it is refused until that one finishes (a dry run is accepted)"
    )]
    DeletionRunning {
        /// The client being deleted.
        client_id: String,
        /// The unfinished Delete Client job.
        delete_job: bgjobs_domain::JobId,
    },
    /// A write of a client's data was refused because a Delete Client job of that
    /// client has begun deleting it.
    #[error("client '{client_id}' is being deleted (job {delete_job})")]
    ClientBeingDeleted {
        /// The client being deleted.
        client_id: String,
        /// The Delete Client job that began deleting it.
        delete_job: bgjobs_domain::JobId,
    },
    /// A write of a client's data was refused because the client does not exist (or
    /// no longer does: a deletion finished).
    #[error("client '{client_id}' does not exist in account {account}; create the client first")]
    ClientNotFound {
        /// The account the client was looked for in.
        account: bgjobs_domain::AccountId,
        /// The missing client.
        client_id: String,
    },
    /// A write for an attempt of a job that is no longer the job's current, unended
    /// attempt (a retry or a stall recovery superseded it): nothing was written.
    #[error(
        "attempt {attempt} of job {job} is superseded (the job is at attempt {current}, {status}); its writes are refused"
    )]
    Superseded {
        /// The job.
        job: bgjobs_domain::JobId,
        /// The attempt that tried to write.
        attempt: u32,
        /// The job's current attempt.
        current: u32,
        /// The job's current status.
        status: String,
    },
    /// A batch of an upload delivery was refused because another delivery of the same
    /// attempt (a duplicate copy of the job message) has already committed past the
    /// batch's first row: writing it would apply rows twice. Nothing was written.
    #[error(
        "another delivery of attempt {attempt} of job {job} has already committed through row {committed}; this one stops so that no row is written twice"
    )]
    Overtaken {
        /// The job.
        job: bgjobs_domain::JobId,
        /// The attempt both deliveries belong to.
        attempt: u32,
        /// The rows the job's checkpoint covers.
        committed: u64,
    },
    /// A write of an upload delivery was refused because a newer delivery of the same
    /// attempt (the message redelivered while this one still ran) has claimed the
    /// job's checkpoint: that one goes on, as the registry applies its events. Nothing
    /// was written.
    #[error(
        "delivery {delivery} of attempt {attempt} of job {job} was taken over by delivery {by}; it stops, and writes nothing more"
    )]
    TakenOver {
        /// The job.
        job: bgjobs_domain::JobId,
        /// The attempt both deliveries belong to.
        attempt: u32,
        /// The delivery that tried to write.
        delivery: u32,
        /// The newer delivery that owns the checkpoint.
        by: u32,
    },
    /// A batch of an upload pass was not committed because the batch before it, written
    /// at the same time, was not: the checkpoint cannot skip a batch. Nothing of this
    /// batch was written; the earlier batch's error says why.
    #[error("an earlier batch of this upload was not committed, so this one was not either")]
    EarlierBatchNotCommitted,
    /// A page cursor that this store did not produce.
    #[error("the page cursor is not valid; request the first page again without a cursor")]
    InvalidCursor,
    /// A stored value the domain cannot read (e.g. an unknown status or a negative counter).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A value the caller passed that the schema cannot hold (e.g. a counter above i64::MAX).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Retry was asked for a job that is not in Error.
    #[error(transparent)]
    NotRetryable(#[from] bgjobs_domain::state_machine::NotRetryable),
    /// An operator asked to replay a dead-lettered job that is running or finished.
    #[error(transparent)]
    NotReplayable(#[from] crate::jobs::NotReplayable),
}

impl Error {
    /// True when trying again later may succeed: the database was unreachable, the pool
    /// was exhausted, or Postgres aborted the transaction for a reason retrying cures
    /// (serialization failure, deadlock, shutdown, a statement or lock wait that ran
    /// past its timeout). Callers use it to choose between a retry with backoff and
    /// failing the job.
    pub fn is_transient(&self) -> bool {
        let (Self::Database(db_error) | Self::Connect { source: db_error, .. }) = self else {
            return false;
        };
        match db_error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(sqlx_error))
            | DbErr::Query(RuntimeErr::SqlxError(sqlx_error)) => is_transient_sqlx(sqlx_error),
            _ => false,
        }
    }
}

fn is_transient_sqlx(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(database_error) => database_error.code().is_some_and(|code| {
            // 40001 serialization_failure, 40P01 deadlock_detected, class 08 connection
            // exceptions, 57P01-57P03 admin shutdown / crash shutdown / cannot connect now,
            // 25P03 idle_in_transaction_session_timeout (the process stalled inside a
            // transaction, which Postgres then ended; a fresh one may well succeed),
            // 57014 query_canceled (statement_timeout, or an operator's cancel) and 55P03
            // lock_not_available (lock_timeout: the lock's holder was slow or hung).
            code == "40001"
                || code == "40P01"
                || code == "25P03"
                || code == "57014"
                || code == "55P03"
                || code.starts_with("08")
                || code.starts_with("57P")
        }),
        _ => false,
    }
}
