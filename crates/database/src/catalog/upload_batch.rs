//! Writing a batch of upload rows: key claims, the write mode, each row's outcome and
//! the checkpoint, in one transaction, for any upload table.
//!
//! An upload type implements [`UploadTable`] (its columns and how a row fills them);
//! everything else here is shared.

use std::collections::{HashMap, HashSet};

use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, TransactionTrait, Value,
};

use super::array_literal::DataColumns;
use super::checkpoint::write_checkpoint;
use super::delete_client::refuse_unless_writable;
use super::fence::refuse_unless_current;
use super::upload_keys::{DeferredKeys, claim_deferred_keys, claim_keys, duplicates_within};
use super::upload_sql::{Writer, existing, insert_new, upsert};
use super::{AppliedBatch, BatchTurn};
use crate::Error;

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
    /// Writes the values of [`UploadTable::DATA`] for `row` to `columns`, in order.
    fn write_data(row: &Self::Row, columns: &mut DataColumns);

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

/// Claims every row's key for `job`, writes the rows that hold their claim under
/// `write`, and records the checkpoint, in one transaction, refused with nothing
/// written once the checkpoint's attempt is superseded. The batch begins and records
/// its checkpoint in its `turn` (see [`BatchChain`](super::BatchChain)). `rows` carry
/// their 1-based input row numbers; outcomes are in the order of `rows`.
///
/// A batch expected to hold only new rows first tries to insert them plainly with its
/// keys deferred (see [`upload_keys`](super::upload_keys)); if a key exists, nothing of
/// that is kept and the batch claims its keys and writes its rows as usual.
pub(crate) async fn apply_batch<T: UploadTable>(
    connection: &DatabaseConnection,
    table: &T,
    job: JobId,
    rows: &[(u64, &T::Row)],
    write: WriteMode,
    turn: BatchTurn,
) -> Result<AppliedBatch, Error> {
    let keys = keys_of::<T>(rows)?;
    // A batch of only rejected rows (the file's tail) starts where its checkpoint ends.
    let first_row = rows.iter().map(|(number, _)| *number).min().unwrap_or(turn.rows_committed());
    let attempt = turn.attempt();
    let defers = write != WriteMode::UpdateOnly && turn.expects_new_rows();
    let mut turn = turn.begin(keys.iter().map(|(_, key)| key.as_str()), defers).await?;
    let mut transaction = begin_batch(connection, table, job, attempt).await?;
    let inserted = match defers {
        true => insert_deferring_keys(&transaction, table, job, rows, &keys, first_row).await?,
        false => None,
    };
    let outcomes = match inserted {
        Some(outcomes) => {
            turn.claimed(true);
            outcomes
        }
        None => {
            if defers {
                // The plain insert met an existing key, which aborted the transaction:
                // the batch begins again, to claim its keys and write through the upsert.
                transaction.rollback().await?;
                transaction = begin_batch(connection, table, job, attempt).await?;
            }
            turn.may_claim().await?;
            claim_deferred_keys(&transaction, job).await?;
            let duplicate_of = claim_keys(&transaction, job, &keys).await?;
            turn.claimed(false);
            let holders = holders(rows, &keys, &duplicate_of);
            let written: HashMap<String, RowOutcome> =
                write_rows(&transaction, table, job, &holders, write).await?.into_iter().collect();
            keys.iter()
                .zip(&duplicate_of)
                .map(|((_, key), duplicate_of)| match duplicate_of {
                    Some(first_row) => RowOutcome::Duplicate { first_row: *first_row },
                    // Written, yet not returned by the upsert: it differed in nothing.
                    None => written.get(key).copied().unwrap_or(RowOutcome::Unchanged),
                })
                .collect()
        }
    };
    let applied = AppliedBatch::from_rows(outcomes);
    turn.wrote(&applied);
    let after = turn.previous_committed().await?;
    write_checkpoint(&transaction, job, &after, &applied, first_row).await?;
    transaction.commit().await?;
    turn.committed(after.plus(&applied));
    Ok(applied)
}

/// Inserts the rows of a batch expected to hold only new rows, each key's first row
/// once, with the batch's keys deferred; returns each row's outcome (created, or a
/// duplicate of an earlier row of the batch), or `None` if a key exists, with nothing
/// written and `transaction` aborted.
async fn insert_deferring_keys<T: UploadTable>(
    transaction: &DatabaseTransaction,
    table: &T,
    job: JobId,
    rows: &[(u64, &T::Row)],
    keys: &[(u64, String)],
    first_row: u64,
) -> Result<Option<Vec<RowOutcome>>, Error> {
    let duplicate_of = duplicates_within(keys);
    let holding = keys.iter().zip(&duplicate_of).filter(|(_, duplicate_of)| duplicate_of.is_none());
    let deferred =
        DeferredKeys::of(first_row, holding.map(|((row, key), _)| (*row, key.as_str())))?;
    let holders = holders(rows, keys, &duplicate_of);
    if !insert_new(transaction, table, job, &holders, deferred).await? {
        return Ok(None);
    }
    Ok(Some(
        duplicate_of
            .into_iter()
            .map(|duplicate_of| match duplicate_of {
                Some(first_row) => RowOutcome::Duplicate { first_row },
                None => RowOutcome::Created,
            })
            .collect(),
    ))
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
    claim_deferred_keys(&transaction, job).await?;
    let duplicate_of = claim_keys(&transaction, job, &keys).await?;
    let holders = holders(rows, &keys, &duplicate_of);
    let mut refused: HashMap<&str, RowOutcome> = HashMap::new();
    if write != WriteMode::CreateOrUpdate {
        // Create-only refuses only other jobs' rows: see [`Writer::NotThisJob`].
        let writer = match write {
            WriteMode::CreateOnly => Writer::NotThisJob(job),
            _ => Writer::Anyone,
        };
        let found = existing(&transaction, table, &key_parts::<T>(&holders), writer, false).await?;
        for (key, _) in &holders {
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
    existing(connection, table, keys, Writer::Anyone, false).await
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

/// Writes rows with distinct keys (in key order) under `write`; returns the outcome of
/// each row the upsert created or changed, or the mode refused, by key. Rows left out
/// were unchanged.
async fn write_rows<T: UploadTable>(
    transaction: &DatabaseTransaction,
    table: &T,
    job: JobId,
    rows: &[(&str, &T::Row)],
    write: WriteMode,
) -> Result<Vec<(String, RowOutcome)>, Error> {
    match write {
        WriteMode::CreateOrUpdate => upsert(transaction, table, job, rows, write).await,
        WriteMode::CreateOnly => {
            let mut outcomes = upsert(transaction, table, job, rows, write).await?;
            // A row the upsert did not return existed: another job's is refused, this
            // job's own (left as it was) is unchanged. The upsert locked them all.
            let returned: HashSet<&str> = outcomes.iter().map(|(key, _)| key.as_str()).collect();
            let not_returned: Vec<(&str, &T::Row)> =
                rows.iter().copied().filter(|(key, _)| !returned.contains(key)).collect();
            let keys = key_parts::<T>(&not_returned);
            let others =
                existing(transaction, table, &keys, Writer::NotThisJob(job), false).await?;
            outcomes.extend(others.into_iter().map(|key| (key, RowOutcome::AlreadyExists)));
            Ok(outcomes)
        }
        WriteMode::UpdateOnly => {
            // Locked, so every present row is updated or left unchanged, never created.
            let keys = key_parts::<T>(rows);
            let known = existing(transaction, table, &keys, Writer::Anyone, true).await?;
            let (present, missing): (Vec<_>, Vec<_>) =
                rows.iter().copied().partition(|(key, _)| known.contains(*key));
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
