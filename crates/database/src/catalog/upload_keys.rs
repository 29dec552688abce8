//! Duplicate detection of an upload in flat memory: every row claims its natural key
//! for the job in `catalog.upload_keys`, in the transaction of its batch.
//!
//! The first claim of a key wins; a later row with the key is a duplicate of the
//! claiming row. A claim is identified by (key, row number), so claiming a key again
//! from the same row (a replayed batch, or the write pass after an all-or-nothing
//! check pass) finds the row's own claim and is not a duplicate.
//!
//! A batch that inserts only new rows defers its claims: its keys are recorded as one
//! row of `catalog.upload_key_batches` (see [`DeferredKeys`]), and become claims only
//! when a batch of the job needs them, since a key it gives again exists by then.

use std::collections::{HashMap, HashSet};

use bgjobs_domain::JobId;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait, Value};

use super::array_literal::ArrayLiteral;
use super::fence::refuse_unless_current;
use crate::convert::{read_u64, write_i64};
use crate::{CatalogStore, Error};

/// Claims the keys of this batch's rows not yet claimed by the job, first row number
/// winning; a key claimed by a committed batch keeps that batch's row.
const CLAIM: &str = r#"
INSERT INTO catalog.upload_keys (job_id, natural_key, first_row)
SELECT $1, claimed.natural_key, claimed.first_row
FROM unnest($2::text[], $3::bigint[]) AS claimed (natural_key, first_row)
ORDER BY claimed.natural_key COLLATE "C"
ON CONFLICT (job_id, natural_key) DO NOTHING
RETURNING natural_key
"#;

/// The rows that first gave keys claimed before this statement.
const CLAIMED_BEFORE: &str = r#"
SELECT natural_key, first_row FROM catalog.upload_keys
WHERE job_id = $1 AND natural_key = ANY($2::text[])
"#;

impl CatalogStore {
    /// Forgets the keys upload job `job` has claimed, so its rows are no longer
    /// duplicates of anything; returns how many there were. For an attempt that starts
    /// from row 0 and for a job that has ended. Refused once `attempt` is superseded
    /// ([`Error::Superseded`]): the keys are then the newer attempt's.
    pub async fn clear_upload_keys(&self, job: JobId, attempt: u32) -> Result<u64, Error> {
        let transaction = self.connection.begin().await?;
        refuse_unless_current(&transaction, job, attempt).await?;
        let deleted = forget_keys(&transaction, job).await?;
        transaction.commit().await?;
        Ok(deleted)
    }
}

/// Deletes a job's claims and deferred keys in one round trip; counts the keys.
const FORGET_KEYS: &str = r#"
WITH claimed AS (
    DELETE FROM catalog.upload_keys WHERE job_id = $1 RETURNING 1
), deferred AS (
    DELETE FROM catalog.upload_key_batches WHERE job_id = $1
    RETURNING cardinality(natural_keys) AS keys
)
SELECT (SELECT count(*) FROM claimed) + (SELECT coalesce(sum(keys), 0) FROM deferred)::bigint
"#;

/// Moves the deferred keys of up to this many batches into claims per statement, so
/// that no statement runs long whatever the size of the job.
const BATCHES_MOVED_AT_ONCE: i64 = 50;

/// Turns the keys recorded by batches that deferred their claims into claims, in input
/// order, and deletes the records. The record's key and row become the claim; a key
/// claimed already (by an all-or-nothing check pass, from the same row) keeps its claim.
const CLAIM_DEFERRED: &str = r#"
WITH moved AS (
    DELETE FROM catalog.upload_key_batches
    WHERE job_id = $1 AND first_row IN (
        SELECT first_row FROM catalog.upload_key_batches
        WHERE job_id = $1 ORDER BY first_row LIMIT $2)
    RETURNING natural_keys, first_rows
), claimed AS (
    INSERT INTO catalog.upload_keys (job_id, natural_key, first_row)
    SELECT $1, deferred.natural_key, deferred.first_row
    FROM moved, unnest(moved.natural_keys, moved.first_rows) AS deferred (natural_key, first_row)
    ORDER BY deferred.natural_key COLLATE "C"
    ON CONFLICT (job_id, natural_key) DO NOTHING
)
SELECT count(*) FROM moved
"#;

/// The keys of a batch whose rows are all new, recorded with its rows instead of
/// claimed (see the module's documentation): each key once, with the row that gave it.
pub(crate) struct DeferredKeys {
    /// The batch's first input row, which names the record.
    first_row: u64,
    keys: ArrayLiteral,
    rows: Vec<i64>,
}

impl DeferredKeys {
    /// The keys of the batch whose first input row is `first_row`: `rows` are
    /// `(row number, natural key)`, each key once, with the row that gave it.
    pub(crate) fn of<'a>(
        first_row: u64,
        rows: impl Iterator<Item = (u64, &'a str)>,
    ) -> Result<Self, Error> {
        let mut keys = ArrayLiteral::with_capacity(0);
        let mut numbers = Vec::new();
        for (row, key) in rows {
            keys.push(Some(key));
            numbers.push(write_i64("row number", row)?);
        }
        Ok(Self { first_row, keys, rows: numbers })
    }

    /// The values of the record's `first_row`, `natural_keys` and `first_rows`.
    pub(crate) fn into_values(self) -> Result<[Value; 3], Error> {
        let first = write_i64("row number", self.first_row)?;
        Ok([first.into(), self.keys.finish(), self.rows.into()])
    }
}

/// Turns every key `job`'s batches deferred into claims, inside `transaction`, before
/// the batch claims its own. The caller has made sure that every batch before it that
/// deferred its keys has committed.
pub(crate) async fn claim_deferred_keys(
    transaction: &DatabaseTransaction,
    job: JobId,
) -> Result<(), Error> {
    let backend = transaction.get_database_backend();
    loop {
        let values = [job.as_uuid().into(), BATCHES_MOVED_AT_ONCE.into()];
        let moved = transaction
            .query_one(Statement::from_sql_and_values(backend, CLAIM_DEFERRED, values))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        if moved < BATCHES_MOVED_AT_ONCE {
            return Ok(());
        }
    }
}

/// Deletes every key `job` has claimed or deferred, inside `transaction`, whose caller
/// has checked that the keys are its attempt's; returns how many there were.
pub(crate) async fn forget_keys(
    transaction: &DatabaseTransaction,
    job: JobId,
) -> Result<u64, Error> {
    let backend = transaction.get_database_backend();
    let values = [job.as_uuid().into()];
    let forgotten = transaction
        .query_one(Statement::from_sql_and_values(backend, FORGET_KEYS, values))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    read_u64("forgotten keys", forgotten)
}

/// The row that first gave each key among `rows` (`(row number, natural key)`).
fn first_rows(rows: &[(u64, String)]) -> HashMap<&str, u64> {
    let mut first_rows: HashMap<&str, u64> = HashMap::with_capacity(rows.len());
    for (row, key) in rows {
        let row = *row;
        first_rows
            .entry(key.as_str())
            .and_modify(|first| *first = (*first).min(row))
            .or_insert(row);
    }
    first_rows
}

/// Per row of `rows`, `Some(first_row)` when an earlier row of the same batch gave its
/// key, as [`claim_keys`] reports it for a job with nothing claimed yet.
pub(crate) fn duplicates_within(rows: &[(u64, String)]) -> Vec<Option<u64>> {
    let first_rows = first_rows(rows);
    rows.iter()
        .map(|(row, key)| first_rows.get(key.as_str()).copied().filter(|first| first != row))
        .collect()
}

/// Claims each row's key for `job` (rows are `(row number, natural key)`) and returns,
/// per row, `Some(first_row)` when an earlier row gave the key (the row is a
/// duplicate of it) or `None` when the row holds the key's claim.
///
/// Two statements whatever the batch size: one insert of the batch's distinct keys,
/// and, only if some were claimed before, one lookup of their first rows.
pub(crate) async fn claim_keys(
    transaction: &DatabaseTransaction,
    job: JobId,
    rows: &[(u64, String)],
) -> Result<Vec<Option<u64>>, Error> {
    let mut first_rows = first_rows(rows);
    if first_rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys = ArrayLiteral::with_capacity(rows.len() * 16);
    let mut numbers = Vec::with_capacity(first_rows.len());
    for (key, first) in &first_rows {
        keys.push(Some(key));
        numbers.push(write_i64("row number", *first)?);
    }
    let backend = transaction.get_database_backend();
    let claimed = transaction
        .query_all(Statement::from_sql_and_values(
            backend,
            CLAIM,
            [job.as_uuid().into(), keys.finish(), numbers.into()],
        ))
        .await?;
    let claimed: HashSet<String> = claimed
        .iter()
        .map(|result| result.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;

    let mut claimed_before = ArrayLiteral::with_capacity(0);
    for key in first_rows.keys().filter(|key| !claimed.contains(**key)) {
        claimed_before.push(Some(key));
    }
    if !claimed_before.is_empty() {
        let earlier = transaction
            .query_all(Statement::from_sql_and_values(
                backend,
                CLAIMED_BEFORE,
                [job.as_uuid().into(), claimed_before.finish()],
            ))
            .await?;
        for result in &earlier {
            let key: String = result.try_get_by_index(0)?;
            let first = read_u64("first_row", result.try_get_by_index(1)?)?;
            if let Some(entry) = first_rows.get_mut(key.as_str()) {
                *entry = first;
            }
        }
    }
    Ok(rows
        .iter()
        .map(|(row, key)| first_rows.get(key.as_str()).copied().filter(|first| first != row))
        .collect())
}
