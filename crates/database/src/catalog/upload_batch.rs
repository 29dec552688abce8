//! Writing a batch of upload rows: key claims, the write mode, each row's outcome and
//! the checkpoint, in one transaction, for any upload table.
//!
//! An upload type implements [`UploadTable`] (its columns and how a row fills them);
//! everything else here is shared.

use std::collections::{HashMap, HashSet};

use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr, ValueTuple};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityName, EntityTrait, Iden,
    QueryResult, TransactionTrait, Value,
};

use super::AppliedBatch;
use super::checkpoint::{Checkpoint, write_checkpoint};
use super::delete_client::refuse_unless_writable;
use super::fence::refuse_unless_current;
use super::upload_keys::claim_keys;
use crate::Error;

/// Rows per INSERT statement: 1,000 rows x at most 65 values stays below Postgres'
/// limit of 65,535 bind parameters, and the statement stays a single round trip.
const ROWS_PER_STATEMENT: usize = 1_000;

/// A column of `T`'s table.
pub(crate) type Column<T> = <<T as UploadTable>::Entity as EntityTrait>::Column;

/// A catalogue table an upload writes, with the scope of one batch (account, client).
pub(crate) trait UploadTable {
    /// The table.
    type Entity: EntityTrait + Default;
    /// A validated input row.
    type Row;
    /// The text columns that identify a row within the scope (SKU; warehouse and code).
    const KEY: &'static [Column<Self>];
    /// The columns an upload sets; a row is unchanged when all of them already match.
    const DATA: &'static [Column<Self>];
    /// The column naming the job that last created or changed the row.
    const LAST_JOB_ID: Column<Self>;
    /// The column of the row's last change.
    const UPDATED_AT: Column<Self>;

    /// The columns and values every row of the batch shares (account, client).
    fn scope(&self) -> Vec<(Column<Self>, Value)>;
    /// The values of [`UploadTable::KEY`] for `row`.
    fn key_parts(row: &Self::Row) -> Vec<&str>;
    /// The values of [`UploadTable::DATA`] for `row`.
    fn data_values(row: &Self::Row) -> Result<Vec<SimpleExpr>, Error>;

    /// The client whose data the batch writes, for a client-owned table: the batch
    /// is then refused once a deletion of that client has begun.
    fn client(&self) -> Option<(&AccountId, &str)> {
        None
    }
}

/// Begins a batch's transaction for attempt `attempt` of `job`, refused once that
/// attempt is superseded (see [`refuse_unless_current`]); for a client-owned table,
/// one that may write the client's data (see [`refuse_unless_writable`]).
async fn begin_batch<T: UploadTable>(
    connection: &DatabaseConnection,
    table: &T,
    job: JobId,
    attempt: u32,
) -> Result<DatabaseTransaction, Error> {
    let transaction = connection.begin().await?;
    refuse_unless_current(&transaction, job, attempt).await?;
    if let Some((account, client_id)) = table.client() {
        refuse_unless_writable(&transaction, account, client_id).await?;
    }
    Ok(transaction)
}

/// One key for the key columns' values: the value itself for a one-column key;
/// otherwise every part but the last prefixed by its length in bytes, so that no two
/// different keys read the same (`3:WH1:A-1`).
pub(crate) fn natural_key(parts: &[&str]) -> String {
    let mut key = String::new();
    if let Some((last, leading)) = parts.split_last() {
        for part in leading {
            key.push_str(&format!("{}:{part}:", part.len()));
        }
        key.push_str(last);
    }
    key
}

/// Claims every row's key for `job`, writes the rows that
/// hold their claim under `write`, and records the checkpoint, in one transaction,
/// refused with nothing written once the checkpoint's attempt is superseded.
/// `rows` carry their 1-based input row numbers; outcomes are in the order of `rows`.
pub(crate) async fn apply_batch<T: UploadTable>(
    connection: &DatabaseConnection,
    table: &T,
    job: JobId,
    rows: &[(u64, &T::Row)],
    write: WriteMode,
    after: &Checkpoint,
) -> Result<AppliedBatch, Error> {
    let keys = keys_of::<T>(rows)?;
    let transaction = begin_batch(connection, table, job, after.attempt).await?;
    let duplicate_of = claim_keys(&transaction, job, &keys).await?;
    let holders = holders(rows, &keys, &duplicate_of);
    let mut written: HashMap<String, RowOutcome> = HashMap::with_capacity(rows.len());
    for chunk in holders.chunks(ROWS_PER_STATEMENT) {
        written.extend(write_chunk(&transaction, table, job, chunk, write).await?);
    }
    let outcomes = keys
        .iter()
        .zip(&duplicate_of)
        .map(|((_, key), duplicate_of)| match duplicate_of {
            Some(first_row) => RowOutcome::Duplicate { first_row: *first_row },
            // Written, yet not returned by the upsert: it differed in nothing.
            None => written.get(key).copied().unwrap_or(RowOutcome::Unchanged),
        })
        .collect();
    let applied = AppliedBatch::from_rows(outcomes);
    // A batch of only rejected rows (the file's tail) starts where its checkpoint ends.
    let first_row = rows.iter().map(|(number, _)| *number).min().unwrap_or(after.rows_committed);
    write_checkpoint(&transaction, job, after, &applied, first_row).await?;
    transaction.commit().await?;
    Ok(applied)
}

/// Claims every row's key for `job` as [`apply_batch`] does and commits the claims
/// alone (refused, claiming nothing, once `attempt` is superseded); returns per row
/// `None` if the row would be written, or why it would not be.
pub(crate) async fn check_batch<T: UploadTable>(
    connection: &DatabaseConnection,
    table: &T,
    job: JobId,
    attempt: u32,
    rows: &[(u64, &T::Row)],
    write: WriteMode,
) -> Result<Vec<Option<RowOutcome>>, Error> {
    let keys = keys_of::<T>(rows)?;
    let transaction = begin_batch(connection, table, job, attempt).await?;
    let duplicate_of = claim_keys(&transaction, job, &keys).await?;
    let holders = holders(rows, &keys, &duplicate_of);
    let mut refused: HashMap<&str, RowOutcome> = HashMap::new();
    if write != WriteMode::CreateOrUpdate {
        // Create-only refuses only other jobs' rows: see [`Writer::NotThisJob`].
        let writer = match write {
            WriteMode::CreateOnly => Writer::NotThisJob(job),
            _ => Writer::Anyone,
        };
        for chunk in holders.chunks(ROWS_PER_STATEMENT) {
            let found =
                existing(&transaction, table, &key_parts::<T>(chunk), writer, false).await?;
            for (key, _) in chunk {
                let exists = found.contains(*key);
                let refusal = match write {
                    WriteMode::CreateOnly => exists.then_some(RowOutcome::AlreadyExists),
                    WriteMode::UpdateOnly => (!exists).then_some(RowOutcome::DoesNotExist),
                    WriteMode::CreateOrUpdate => None,
                };
                if let Some(refusal) = refusal {
                    refused.insert(key, refusal);
                }
            }
        }
    }
    transaction.commit().await?;
    Ok(keys
        .iter()
        .zip(&duplicate_of)
        .map(|((_, key), duplicate_of)| match duplicate_of {
            Some(first_row) => Some(RowOutcome::Duplicate { first_row: *first_row }),
            None => refused.get(key.as_str()).copied(),
        })
        .collect())
}

/// The natural keys among `keys` (each the values of [`UploadTable::KEY`]) that exist
/// in the table's scope.
pub(crate) async fn existing_keys<T: UploadTable>(
    connection: &impl ConnectionTrait,
    table: &T,
    keys: &[Vec<&str>],
) -> Result<HashSet<String>, Error> {
    let mut found = HashSet::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        found.extend(existing(connection, table, chunk, Writer::Anyone, false).await?);
    }
    Ok(found)
}

/// Each row's number and natural key, after checking the numbers are 1-based and
/// distinct (a claim is identified by its row number).
fn keys_of<T: UploadTable>(rows: &[(u64, &T::Row)]) -> Result<Vec<(u64, String)>, Error> {
    let mut numbers = HashSet::with_capacity(rows.len());
    rows.iter()
        .map(|(number, row)| {
            if *number == 0 || !numbers.insert(*number) {
                return Err(Error::InvalidInput(format!(
                    "row number {number} is 0 or given twice in one batch; rows are numbered from 1"
                )));
            }
            Ok((*number, natural_key(&T::key_parts(row))))
        })
        .collect()
}

/// The rows that hold their key's claim, with their keys, in key order: concurrent
/// batches touching the same records then lock them in the same order and cannot
/// deadlock.
fn holders<'a, R>(
    rows: &[(u64, &'a R)],
    keys: &'a [(u64, String)],
    duplicate_of: &[Option<u64>],
) -> Vec<(&'a str, &'a R)> {
    let mut holders: Vec<(&str, &R)> = keys
        .iter()
        .zip(rows)
        .zip(duplicate_of)
        .filter(|(_, duplicate_of)| duplicate_of.is_none())
        .map(|(((_, key), (_, row)), _)| (key.as_str(), *row))
        .collect();
    holders.sort_unstable_by(|left, right| left.0.cmp(right.0));
    holders
}

/// Writes one chunk of rows with distinct keys under `write`; returns the outcome of
/// each row the upsert created or changed, or the mode refused, by key. Rows left out
/// were unchanged.
async fn write_chunk<T: UploadTable>(
    transaction: &impl ConnectionTrait,
    table: &T,
    job: JobId,
    chunk: &[(&str, &T::Row)],
    write: WriteMode,
) -> Result<Vec<(String, RowOutcome)>, Error> {
    match write {
        WriteMode::CreateOrUpdate => upsert(transaction, table, job, chunk, write).await,
        WriteMode::CreateOnly => {
            let mut outcomes = upsert(transaction, table, job, chunk, write).await?;
            // A row the upsert did not return existed: another job's is refused, this
            // job's own (left as it was) is unchanged. The upsert locked them all.
            let returned: HashSet<&str> = outcomes.iter().map(|(key, _)| key.as_str()).collect();
            let not_returned: Vec<(&str, &T::Row)> =
                chunk.iter().copied().filter(|(key, _)| !returned.contains(key)).collect();
            let keys = key_parts::<T>(&not_returned);
            let others =
                existing(transaction, table, &keys, Writer::NotThisJob(job), false).await?;
            outcomes.extend(others.into_iter().map(|key| (key, RowOutcome::AlreadyExists)));
            Ok(outcomes)
        }
        WriteMode::UpdateOnly => {
            // Locked, so every present row is updated or left unchanged, never created.
            let keys = key_parts::<T>(chunk);
            let known = existing(transaction, table, &keys, Writer::Anyone, true).await?;
            let (present, missing): (Vec<_>, Vec<_>) =
                chunk.iter().copied().partition(|(key, _)| known.contains(*key));
            let mut outcomes: Vec<(String, RowOutcome)> = missing
                .iter()
                .map(|(key, _)| ((*key).to_owned(), RowOutcome::DoesNotExist))
                .collect();
            if !present.is_empty() {
                outcomes.extend(upsert(transaction, table, job, &present, write).await?);
            }
            Ok(outcomes)
        }
    }
}

/// The values of [`UploadTable::KEY`] of each row.
fn key_parts<'a, T: UploadTable>(rows: &[(&str, &'a T::Row)]) -> Vec<Vec<&'a str>> {
    rows.iter().map(|(_, row)| T::key_parts(row)).collect()
}

/// Whose rows [`existing`] looks for.
#[derive(Debug, Clone, Copy)]
enum Writer {
    /// Every row, whoever wrote it.
    Anyone,
    /// Rows another job (or no job) wrote last. For create-only: a row this job wrote
    /// last was created by an earlier attempt of it (a retry, a stall recovery or a
    /// replay starts over from row 1), so it is the job's own, not one that already
    /// existed; refusing it would fail every new attempt of an all-or-nothing upload.
    NotThisJob(JobId),
}

/// The natural keys among `keys` that exist in the table's scope, last written by
/// `writer`; `lock` takes their row locks (in key order) so they cannot go away before
/// the transaction ends.
async fn existing<T: UploadTable>(
    connection: &impl ConnectionTrait,
    table: &T,
    keys: &[Vec<&str>],
    writer: Writer,
    lock: bool,
) -> Result<HashSet<String>, Error> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let mut select = Query::select();
    select.columns(T::KEY.iter().copied()).from(T::Entity::default().table_ref());
    for (column, value) in table.scope() {
        select.and_where(Expr::col(column).eq(value));
    }
    if let Writer::NotThisJob(job) = writer {
        let last_job = Expr::col(T::LAST_JOB_ID);
        select.and_where(last_job.clone().is_null().or(last_job.ne(job.as_uuid())));
    }
    let tuples = keys
        .iter()
        .map(|parts| ValueTuple::Many(parts.iter().map(|part| Value::from(*part)).collect()));
    select.and_where(
        Expr::tuple(T::KEY.iter().map(|column| Expr::col(*column).into())).in_tuples(tuples),
    );
    for column in T::KEY {
        select.order_by(*column, sea_orm::sea_query::Order::Asc);
    }
    if lock {
        select.lock_exclusive();
    }
    let statement = connection.get_database_backend().build(&select);
    let found = connection.query_all(statement).await?;
    found.iter().map(read_key::<T>).collect::<Result<_, _>>().map_err(Error::from)
}

/// One multi-row `INSERT ... ON CONFLICT DO UPDATE ... WHERE <something differs>`,
/// returning the written keys. For create-only the update also needs the existing row
/// to be this job's own (see [`Writer::NotThisJob`]): another job's row is left alone.
///
/// Rows that differ in nothing are skipped by the WHERE and return no row (they are
/// unchanged); of the returned rows, `xmax = 0` marks the freshly inserted ones (an
/// updated row version carries the updating transaction).
async fn upsert<T: UploadTable>(
    transaction: &impl ConnectionTrait,
    table: &T,
    job: JobId,
    rows: &[(&str, &T::Row)],
    write: WriteMode,
) -> Result<Vec<(String, RowOutcome)>, Error> {
    let entity = T::Entity::default();
    let scope = table.scope();
    let scope_columns: Vec<Column<T>> = scope.iter().map(|(column, _)| *column).collect();
    let mut insert = Query::insert();
    insert.into_table(entity.table_ref()).columns(
        scope_columns.iter().chain(T::KEY).chain(T::DATA).copied().chain([T::LAST_JOB_ID]),
    );
    for (_, row) in rows {
        let mut values: Vec<SimpleExpr> =
            scope.iter().map(|(_, value)| value.clone().into()).collect();
        values.extend(T::key_parts(row).into_iter().map(SimpleExpr::from));
        values.extend(T::data_values(row)?);
        values.push(job.as_uuid().into());
        insert.values(values).map_err(|error| DbErr::Custom(error.to_string()))?;
    }
    let name = entity.table_name();
    let current: Vec<String> =
        T::DATA.iter().map(|column| format!("\"{name}\".\"{}\"", column.to_string())).collect();
    let proposed: Vec<String> =
        T::DATA.iter().map(|column| format!("excluded.\"{}\"", column.to_string())).collect();
    let mut update_when =
        Expr::cust(format!("({}) IS DISTINCT FROM ({})", current.join(", "), proposed.join(", ")));
    if write == WriteMode::CreateOnly {
        let last_job = Expr::col((Alias::new(name), T::LAST_JOB_ID));
        update_when = last_job.eq(job.as_uuid()).and(update_when);
    }
    let mut conflict = OnConflict::columns(scope_columns.iter().chain(T::KEY).copied());
    conflict
        .update_columns(T::DATA.iter().copied().chain([T::LAST_JOB_ID]))
        .value(T::UPDATED_AT, Expr::cust("now()"))
        .action_and_where(update_when);
    let mut returning: Vec<SimpleExpr> =
        T::KEY.iter().map(|column| Expr::col(*column).into()).collect();
    returning.push(Expr::cust("(xmax = 0) AS inserted"));
    insert.on_conflict(conflict).returning(Query::returning().exprs(returning));

    let statement = transaction.get_database_backend().build(&insert);
    let returned = transaction.query_all(statement).await?;
    let mut written = Vec::with_capacity(returned.len());
    for result in &returned {
        let inserted: bool = result.try_get("", "inserted")?;
        let outcome = if inserted { RowOutcome::Created } else { RowOutcome::Updated };
        written.push((read_key::<T>(result)?, outcome));
    }
    Ok(written)
}

/// The natural key of a returned or selected row, from its key columns by name.
fn read_key<T: UploadTable>(result: &QueryResult) -> Result<String, DbErr> {
    let parts: Vec<String> = T::KEY
        .iter()
        .map(|column| result.try_get::<String>("", &column.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(natural_key(&parts.iter().map(String::as_str).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::natural_key;

    #[test]
    fn natural_keys_are_unambiguous_whatever_the_parts_hold() {
        assert_eq!(natural_key(&["SKU-1"]), "SKU-1");
        assert_eq!(natural_key(&["WH1", "A-1"]), "3:WH1:A-1");
        assert_ne!(natural_key(&["AB", "C"]), natural_key(&["A", "BC"]));
        assert_ne!(natural_key(&["A:", "B"]), natural_key(&["A", ":B"]));
        assert_ne!(natural_key(&["1:A", "B"]), natural_key(&["1", "A:B"]));
    }
}
