//! The per-client lock across job types: while a Delete Client job of a client is
//! New or In Progress, no new job may work on that client's data, nor delete it a
//! second time (a dry run, which deletes nothing, is never refused and refuses nothing).
//!
//! Registering a job that names a client takes a transaction-scoped advisory lock on
//! (account, client), so an upload's check-and-insert and a deletion's insert cannot
//! interleave: either the upload is registered first (and the deletion waits for it
//! while it runs, see the delete-client consumer), or the deletion is, and the upload
//! is refused. A deletion takes it exclusively; every other job (uploads, dry runs)
//! shared, so that uploads of one client are registered side by side and only wait
//! for a deletion's registration. The same key guards the client's data once a
//! deletion has begun (see `catalog::delete_client`): the deletion takes it
//! exclusively to record that it began, every product batch takes it shared to look
//! for such a record.

use bgjobs_domain::{AccountId, JobId, JobStatus, JobType};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use crate::entities::jobs as job_rows;
use crate::{Error, JobsStore};

/// The statuses of a job that has not finished yet.
pub const UNFINISHED: [JobStatus; 2] = [JobStatus::New, JobStatus::InProgress];

/// Takes the exclusive advisory lock of (`account`, `client_id`) until `transaction`
/// ends: registering a deletion of the client, or a deletion beginning. The key is a
/// 64-bit hash: two clients sharing a key only serialise each other's lock holders.
pub(crate) async fn lock_client(
    transaction: &impl ConnectionTrait,
    account: &AccountId,
    client_id: &str,
) -> Result<(), Error> {
    take_lock(transaction, "pg_advisory_xact_lock", account, client_id).await
}

/// Takes the shared advisory lock of (`account`, `client_id`) until `transaction`
/// ends: registering any other job for the client, or a batch writing the client's
/// data, which any number may hold at once.
pub(crate) async fn lock_client_shared(
    transaction: &impl ConnectionTrait,
    account: &AccountId,
    client_id: &str,
) -> Result<(), Error> {
    take_lock(transaction, "pg_advisory_xact_lock_shared", account, client_id).await
}

async fn take_lock(
    transaction: &impl ConnectionTrait,
    function: &str,
    account: &AccountId,
    client_id: &str,
) -> Result<(), Error> {
    let statement = Statement::from_sql_and_values(
        transaction.get_database_backend(),
        format!("SELECT {function}(hashtextextended($1 || '/' || $2, 0))"),
        [account.as_str().into(), client_id.into()],
    );
    transaction.execute(statement).await?;
    Ok(())
}

/// Takes the client's lock for registering a job of `job_type` with `parameters`
/// (exclusive for a deletion, shared otherwise), then refuses the job while a
/// deletion of that client is unfinished: an upload with [`Error::ClientLocked`], a
/// second deletion with [`Error::DeletionRunning`]. A dry run, which deletes nothing,
/// is never refused and never refuses anything.
pub(super) async fn guard_registration(
    transaction: &impl ConnectionTrait,
    account: &AccountId,
    client_id: &str,
    job_type: JobType,
    parameters: &serde_json::Value,
) -> Result<(), Error> {
    let dry_run = is_dry_run(parameters);
    if job_type == JobType::DeleteClient && !dry_run {
        lock_client(transaction, account, client_id).await?;
    } else {
        lock_client_shared(transaction, account, client_id).await?;
    }
    if job_type == JobType::DeleteClient && dry_run {
        return Ok(());
    }
    let deletions: Vec<Uuid> = job_rows::Entity::find()
        .select_only()
        .column(job_rows::Column::JobId)
        .filter(job_rows::Column::AccountId.eq(account.as_str()))
        .filter(job_rows::Column::ClientId.eq(client_id))
        .filter(job_rows::Column::JobType.eq(JobType::DeleteClient.as_str()))
        .filter(job_rows::Column::Status.is_in(UNFINISHED.iter().map(|status| status.as_str())))
        .filter(Expr::cust("NOT COALESCE(parameters -> 'dry_run' = 'true'::jsonb, false)"))
        .order_by_asc(job_rows::Column::CreatedAt)
        .order_by_asc(job_rows::Column::JobId)
        .into_tuple()
        .all(transaction)
        .await?;
    let Some(delete_job) = deletions.first().copied().map(JobId::from) else {
        return Ok(());
    };
    let client_id = client_id.to_owned();
    Err(match job_type {
        JobType::DeleteClient => Error::DeletionRunning { client_id, delete_job },
        _ => Error::ClientLocked { client_id, delete_job },
    })
}

/// Whether a Delete Client job's `parameters` ask for a dry run, read as the query
/// above reads them.
fn is_dry_run(parameters: &serde_json::Value) -> bool {
    parameters.get("dry_run") == Some(&serde_json::Value::Bool(true))
}

/// The ids of `account`'s jobs for `client_id` of one of `job_types` in one of
/// `statuses`, oldest first.
async fn jobs_for_client(
    connection: &impl ConnectionTrait,
    account: &AccountId,
    client_id: &str,
    job_types: &[JobType],
    statuses: &[JobStatus],
) -> Result<Vec<JobId>, Error> {
    let ids: Vec<Uuid> = job_rows::Entity::find()
        .select_only()
        .column(job_rows::Column::JobId)
        .filter(job_rows::Column::AccountId.eq(account.as_str()))
        .filter(job_rows::Column::ClientId.eq(client_id))
        .filter(job_rows::Column::JobType.is_in(job_types.iter().map(|kind| kind.as_str())))
        .filter(job_rows::Column::Status.is_in(statuses.iter().map(|status| status.as_str())))
        .order_by_asc(job_rows::Column::CreatedAt)
        .order_by_asc(job_rows::Column::JobId)
        .into_tuple()
        .all(connection)
        .await?;
    Ok(ids.into_iter().map(JobId::from).collect())
}

impl JobsStore {
    /// The ids of `account`'s jobs that name `client_id`, of one of `job_types` and in
    /// one of `statuses`, oldest first: e.g. the uploads a deletion must wait for.
    pub async fn active_jobs_for_client(
        &self,
        account: &AccountId,
        client_id: &str,
        job_types: &[JobType],
        statuses: &[JobStatus],
    ) -> Result<Vec<JobId>, Error> {
        jobs_for_client(&self.connection, account, client_id, job_types, statuses).await
    }
}

impl crate::CatalogStore {
    /// What [`JobsStore::active_jobs_for_client`] answers, read by a consumer (a
    /// deletion waits for the client's running uploads); it changes nothing.
    pub async fn active_jobs_for_client(
        &self,
        account: &AccountId,
        client_id: &str,
        job_types: &[JobType],
        statuses: &[JobStatus],
    ) -> Result<Vec<JobId>, Error> {
        jobs_for_client(&self.connection, account, client_id, job_types, statuses).await
    }
}
