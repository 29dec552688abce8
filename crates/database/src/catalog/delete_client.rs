//! Deleting all data of one client (Delete Client jobs): what would go, and the
//! deletion itself in small, resumable, counted batches.
//!
//! Every batch deletes at most `batch_size` rows and raises the job's count in
//! `catalog.client_deletions` in the same transaction, so the count is exactly what
//! this job deleted, whichever delivery (or concurrent stray worker) did it. Batches
//! of one client take its exclusive advisory lock, one after another. The
//! client row goes last, once no client-owned row is left, and is counted as table
//! `clients`: a redelivery can tell "already done" from "never existed".
//!
//! Before its first batch a deletion records that it has begun, under the client's
//! exclusive advisory lock; every batch writing the client's products takes that
//! lock shared and refuses to write once a deletion has begun
//! ([`Error::ClientBeingDeleted`]). So a batch either commits before the deletion
//! begins, and is deleted by it, or writes nothing. The record goes with the client row.

use bgjobs_domain::{AccountId, JobId};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, ExecResult, Statement, TransactionTrait, Value,
};

use super::fence::refuse_unless_current;
use crate::convert::{read_u64, write_i64};
use crate::jobs::client_lock::{lock_client, lock_client_shared};
use crate::{CatalogStore, Error};

/// Tables holding rows owned by a client, children before parents: deleted in this
/// order. Each has `account_id` and `client_id` columns (indexed as the leading key
/// columns); a new client-owned table is one more entry here.
pub const CLIENT_OWNED_TABLES: [&str; 1] = ["products"];

/// The name under which the client row itself is counted.
pub const CLIENTS_TABLE: &str = "clients";

/// A number of rows of one table of the `catalog` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRows {
    /// The table, e.g. `products`, or [`CLIENTS_TABLE`] for the client row.
    pub table: &'static str,
    /// How many rows.
    pub rows: u64,
}

/// What one call of [`CatalogStore::delete_client_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteStep {
    /// Deleted these rows of a client-owned table; more may remain.
    Rows(TableRows),
    /// No client-owned row was left, so the client row was deleted (`existed` is false
    /// when it was already gone): the client's data is all deleted.
    ClientDeleted {
        /// Whether this call deleted the client row.
        existed: bool,
    },
}

impl CatalogStore {
    /// How many rows of each client-owned table belong to `client_id` of `account`:
    /// what deleting the client would delete, besides the client row itself. Every
    /// table of [`CLIENT_OWNED_TABLES`] is listed, in order, also when it has none.
    pub async fn client_data_counts(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> Result<Vec<TableRows>, Error> {
        let mut counts = Vec::with_capacity(CLIENT_OWNED_TABLES.len());
        for table in CLIENT_OWNED_TABLES {
            let sql = format!(
                "SELECT count(*) FROM catalog.{table} WHERE account_id = $1 AND client_id = $2"
            );
            let row = self
                .connection
                .query_one(self.statement(&sql, [account.as_str().into(), client_id.into()]))
                .await?;
            let count = match row {
                Some(row) => row.try_get_by_index::<i64>(0)?,
                None => 0,
            };
            counts.push(TableRows { table, rows: read_u64("count", count)? });
        }
        Ok(counts)
    }

    /// Records that Delete Client job `job` begins deleting `client_id` of `account`:
    /// from then on, batches writing the client's data are refused. Waits for batches
    /// that are writing it to commit (they are then deleted like any other row).
    /// Idempotent; not for a dry run, which must not hold up uploads. Refused once
    /// `attempt` of the job is superseded ([`Error::Superseded`]).
    pub async fn begin_client_deletion(
        &self,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        client_id: &str,
    ) -> Result<(), Error> {
        let transaction = self.connection.begin().await?;
        refuse_unless_current(&transaction, job, attempt).await?;
        lock_client(&transaction, account, client_id).await?;
        let sql = "INSERT INTO catalog.client_deletions_begun (account_id, client_id, job_id) \
                   VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        let values = [account.as_str().into(), client_id.into(), job.as_uuid().into()];
        transaction.execute(self.statement(sql, values)).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Deletes at most `batch_size` rows of the first client-owned table that still
    /// has rows of `client_id` of `account`, or, when none is left, the client row,
    /// and adds what it deleted to `job`'s count, in one transaction.
    ///
    /// Call it until it answers [`DeleteStep::ClientDeleted`]. Deleting is
    /// idempotent, so a redelivered job simply calls it again; the counts stay exact
    /// because a batch and its count are committed together or not at all. Batches of
    /// one client are serialised by the client's exclusive advisory lock, so any
    /// number of deleters may run at once. Refused, deleting nothing, once `attempt`
    /// of the job is superseded ([`Error::Superseded`]).
    pub async fn delete_client_batch(
        &self,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        client_id: &str,
        batch_size: u64,
    ) -> Result<DeleteStep, Error> {
        let limit = write_i64("batch_size", batch_size.max(1))?;
        let transaction = self.connection.begin().await?;
        refuse_unless_current(&transaction, job, attempt).await?;
        // One batch of the client at a time, whoever deletes it. Two deleters at once
        // (a redelivery racing the original, or a second job) would otherwise choose
        // the same rows; the one that waited would find them gone, take the client for
        // empty and fail on the foreign key of the rows nobody chose.
        lock_client(&transaction, account, client_id).await?;
        for table in CLIENT_OWNED_TABLES {
            // `ctid = ANY(ARRAY(...))` makes a TID scan of just the chosen rows;
            // `ctid IN (SELECT ...)` would be planned as a join over the whole table.
            let sql = format!(
                "DELETE FROM catalog.{table} WHERE ctid = ANY(ARRAY(\
                 SELECT ctid FROM catalog.{table} WHERE account_id = $1 AND client_id = $2 \
                 LIMIT $3))"
            );
            let values = [account.as_str().into(), client_id.into(), limit.into()];
            let deleted = transaction.execute(self.statement(&sql, values)).await?;
            if deleted.rows_affected() > 0 {
                let rows = record(&transaction, job, account, client_id, table, deleted).await?;
                transaction.commit().await?;
                return Ok(DeleteStep::Rows(TableRows { table, rows }));
            }
        }
        let sql = "DELETE FROM catalog.clients WHERE account_id = $1 AND client_id = $2";
        let values = [account.as_str().into(), client_id.into()];
        let deleted = transaction.execute(self.statement(sql, values)).await?;
        let existed = deleted.rows_affected() > 0;
        if existed {
            record(&transaction, job, account, client_id, CLIENTS_TABLE, deleted).await?;
        }
        // The client is gone: writers now find no client rather than a deletion.
        let sql = "DELETE FROM catalog.client_deletions_begun WHERE job_id = $1";
        transaction.execute(self.statement(sql, [job.as_uuid().into()])).await?;
        transaction.commit().await?;
        Ok(DeleteStep::ClientDeleted { existed })
    }

    /// What Delete Client job `job` of `account` has deleted so far, per table: the
    /// client-owned tables in [`CLIENT_OWNED_TABLES`] order, then [`CLIENTS_TABLE`]
    /// once the client row is deleted. Tables it deleted nothing from are left out.
    pub async fn client_deletion_progress(
        &self,
        job: JobId,
        account: &AccountId,
    ) -> Result<Vec<TableRows>, Error> {
        let sql = "SELECT table_name, rows_deleted FROM catalog.client_deletions \
                   WHERE job_id = $1 AND account_id = $2";
        let rows = self
            .connection
            .query_all(self.statement(sql, [job.as_uuid().into(), account.as_str().into()]))
            .await?;
        let mut progress = Vec::with_capacity(rows.len());
        for row in rows {
            let name = row.try_get_by_index::<String>(0)?;
            let deleted = row.try_get_by_index::<i64>(1)?;
            let table = known_table(&name)
                .ok_or_else(|| Error::Corrupt(format!("table_name is '{name}'")))?;
            progress.push(TableRows { table, rows: read_u64("rows_deleted", deleted)? });
        }
        progress.sort_by_key(|entry| table_order(entry.table));
        Ok(progress)
    }

    /// The Delete Client job that last deleted the client row of `client_id` of
    /// `account`, if one did: so deleting an already deleted client can say by whom
    /// instead of looking like a mistyped id.
    pub async fn client_deleted_by(
        &self,
        account: &AccountId,
        client_id: &str,
    ) -> Result<Option<JobId>, Error> {
        let sql = "SELECT job_id FROM catalog.client_deletions \
                   WHERE account_id = $1 AND client_id = $2 AND table_name = $3 \
                   ORDER BY updated_at DESC LIMIT 1";
        let values = [account.as_str().into(), client_id.into(), CLIENTS_TABLE.into()];
        let row = self.connection.query_one(self.statement(sql, values)).await?;
        row.map(|row| row.try_get_by_index::<uuid::Uuid>(0).map(JobId::from))
            .transpose()
            .map_err(Error::from)
    }

    fn statement(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
        Statement::from_sql_and_values(self.connection.get_database_backend(), sql, values)
    }
}

/// Takes the shared lock of (`account`, `client_id`) for the rest of `transaction` and
/// refuses to let it write the client's data when a deletion of the client has begun
/// ([`Error::ClientBeingDeleted`]) or the client does not exist
/// ([`Error::ClientNotFound`]). A begun deletion cannot commit its record while the
/// lock is held, so the answer holds until the transaction ends.
pub(crate) async fn refuse_unless_writable(
    transaction: &DatabaseTransaction,
    account: &AccountId,
    client_id: &str,
) -> Result<(), Error> {
    lock_client_shared(transaction, account, client_id).await?;
    // A statement of its own, after the lock: its snapshot sees a deletion that began
    // while this transaction waited for the lock.
    let sql = "SELECT (SELECT job_id FROM catalog.client_deletions_begun \
                       WHERE account_id = $1 AND client_id = $2 \
                       ORDER BY begun_at, job_id LIMIT 1), \
                      EXISTS (SELECT 1 FROM catalog.clients \
                              WHERE account_id = $1 AND client_id = $2)";
    let backend = transaction.get_database_backend();
    let values = [account.as_str().into(), client_id.into()];
    let row = transaction
        .query_one(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| Error::Corrupt("the client lookup returned no row".to_owned()))?;
    let deleting: Option<uuid::Uuid> = row.try_get_by_index(0)?;
    let exists: bool = row.try_get_by_index(1)?;
    if let Some(delete_job) = deleting {
        return Err(Error::ClientBeingDeleted {
            client_id: client_id.to_owned(),
            delete_job: delete_job.into(),
        });
    }
    if !exists {
        return Err(Error::ClientNotFound {
            account: account.clone(),
            client_id: client_id.to_owned(),
        });
    }
    Ok(())
}

/// Adds the rows `deleted` removed from `table` to the job's count; returns how many.
async fn record(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: &AccountId,
    client_id: &str,
    table: &'static str,
    deleted: ExecResult,
) -> Result<u64, Error> {
    let rows = deleted.rows_affected();
    let sql = "INSERT INTO catalog.client_deletions \
               (job_id, table_name, account_id, client_id, rows_deleted) \
               VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (job_id, table_name) DO UPDATE \
               SET rows_deleted = catalog.client_deletions.rows_deleted + EXCLUDED.rows_deleted, \
                   updated_at = now()";
    let values: [Value; 5] = [
        job.as_uuid().into(),
        table.into(),
        account.as_str().into(),
        client_id.into(),
        write_i64("rows_deleted", rows)?.into(),
    ];
    let backend = transaction.get_database_backend();
    transaction.execute(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(rows)
}

fn known_table(name: &str) -> Option<&'static str> {
    CLIENT_OWNED_TABLES.into_iter().chain([CLIENTS_TABLE]).find(|table| *table == name)
}

/// Deletion order: the client-owned tables as listed, the client row last.
fn table_order(table: &str) -> usize {
    CLIENT_OWNED_TABLES.iter().position(|owned| *owned == table).unwrap_or(usize::MAX)
}
