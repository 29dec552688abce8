//! Upserting a batch of warehouse locations together with the job's checkpoint.

use std::collections::{HashMap, HashSet};

use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityName, EntityTrait, Iden,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::Location;
use crate::catalog::{AppliedBatch, BatchOutcome, Checkpoint};
use crate::convert::{write_i32, write_i64};
use crate::entities::{job_checkpoints, warehouse_locations};
use crate::{Error, Store};

/// Rows per INSERT statement: 1,000 rows x 12 values stays far below Postgres' limit
/// of 65,535 bind parameters, and the statement stays a single round trip.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The columns an upload sets; a row is "unchanged" when all of them already match.
const DATA_COLUMNS: [warehouse_locations::Column; 8] = [
    warehouse_locations::Column::Zone,
    warehouse_locations::Column::Aisle,
    warehouse_locations::Column::Bay,
    warehouse_locations::Column::Level,
    warehouse_locations::Column::LocationType,
    warehouse_locations::Column::Pickable,
    warehouse_locations::Column::Capacity,
    // Listed last: not compared, only written (see `upsert_locations`).
    warehouse_locations::Column::LastJobId,
];

impl Store {
    /// Upserts `rows` into the locations of `account` (each row names its warehouse)
    /// and records `after` (the job's totals through this batch) as the checkpoint of
    /// `job`, in one transaction: either both are committed or neither.
    ///
    /// A row is created when its (warehouse, location code) is new, updated only when
    /// a value differs, and otherwise left untouched, so replaying a committed batch
    /// changes nothing and reports every row as unchanged. A key twice in one batch is
    /// [`Error::InvalidInput`]; a warehouse that does not exist in the account is a
    /// [`Error::Database`] foreign-key violation: validation must reject both first.
    pub async fn apply_location_batch(
        &self,
        job: JobId,
        account: &AccountId,
        rows: &[Location],
        after: &Checkpoint,
    ) -> Result<BatchOutcome, Error> {
        let applied = self
            .apply_location_batch_as(job, account, rows, WriteMode::CreateOrUpdate, after)
            .await?;
        Ok(applied.counts)
    }

    /// [`Store::apply_location_batch`] under a write mode, with each row's outcome in
    /// input order: create-only leaves existing locations alone
    /// ([`RowOutcome::AlreadyExists`]), update-only leaves unknown ones alone
    /// ([`RowOutcome::DoesNotExist`]).
    /// Refused rows are added to `after.rows_rejected` in the checkpoint written.
    pub async fn apply_location_batch_as(
        &self,
        job: JobId,
        account: &AccountId,
        rows: &[Location],
        write: WriteMode,
        after: &Checkpoint,
    ) -> Result<AppliedBatch, Error> {
        let mut seen = HashSet::with_capacity(rows.len());
        let key = |row: &Location| (row.warehouse_id.clone(), row.location_code.clone());
        if let Some(duplicate) = rows.iter().find(|row| !seen.insert(key(row))) {
            return Err(Error::InvalidInput(format!(
                "location '{}' of warehouse '{}' appears more than once in one batch",
                duplicate.location_code, duplicate.warehouse_id
            )));
        }
        // Rows in key order, so concurrent batches touching the same locations lock
        // them in the same order and cannot deadlock.
        let mut sorted: Vec<&Location> = rows.iter().collect();
        sorted.sort_unstable_by(|left, right| {
            (&left.warehouse_id, &left.location_code)
                .cmp(&(&right.warehouse_id, &right.location_code))
        });

        let transaction = self.connection.begin().await?;
        let mut by_key: HashMap<LocationKey, RowOutcome> = HashMap::with_capacity(rows.len());
        for chunk in sorted.chunks(ROWS_PER_STATEMENT) {
            write_chunk(&transaction, job, account, chunk, write, &mut by_key).await?;
        }
        let outcomes: Vec<RowOutcome> = rows
            .iter()
            .map(|row| by_key.get(&key_of(row)).copied().unwrap_or(RowOutcome::Unchanged))
            .collect();
        let applied = AppliedBatch::from_rows(outcomes);
        // Only the write knows what this batch did: its counts join the totals here,
        // in the same transaction, so the checkpoint is never a batch behind.
        let after = Checkpoint {
            rows_created: after.rows_created + applied.counts.created,
            rows_updated: after.rows_updated + applied.counts.updated,
            rows_unchanged: after.rows_unchanged + applied.counts.unchanged,
            rows_rejected: after.rows_rejected + applied.refused,
            ..*after
        };
        job_checkpoints::Entity::insert(checkpoint_row(job, &after)?)
            .on_conflict(
                OnConflict::column(job_checkpoints::Column::JobId)
                    .update_columns([
                        job_checkpoints::Column::Attempt,
                        job_checkpoints::Column::RowsCommitted,
                        job_checkpoints::Column::RowsCreated,
                        job_checkpoints::Column::RowsUpdated,
                        job_checkpoints::Column::RowsUnchanged,
                        job_checkpoints::Column::RowsRejected,
                    ])
                    .value(job_checkpoints::Column::UpdatedAt, Expr::cust("now()"))
                    .to_owned(),
            )
            .exec(&transaction)
            .await?;
        transaction.commit().await?;
        Ok(applied)
    }

    /// The (warehouse, location code) pairs among `keys` that exist in `account`:
    /// the existence check of a create-only or update-only upload's validation pass.
    pub async fn existing_locations(
        &self,
        account: &AccountId,
        keys: &[(String, String)],
    ) -> Result<HashSet<(String, String)>, Error> {
        existing(&self.connection, account, keys, false).await
    }
}

/// A location's natural key within an account: (warehouse, location code).
type LocationKey = (String, String);

fn key_of(row: &Location) -> LocationKey {
    (row.warehouse_id.clone(), row.location_code.clone())
}

/// The keys among `keys` that exist; `lock` takes their row locks (in key order) so
/// they cannot go away before the transaction ends.
async fn existing<C: ConnectionTrait>(
    connection: &C,
    account: &AccountId,
    keys: &[LocationKey],
    lock: bool,
) -> Result<HashSet<LocationKey>, Error> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let key_columns = Expr::tuple([
        Expr::col(warehouse_locations::Column::WarehouseId).into(),
        Expr::col(warehouse_locations::Column::LocationCode).into(),
    ]);
    let mut query = warehouse_locations::Entity::find()
        .select_only()
        .column(warehouse_locations::Column::WarehouseId)
        .column(warehouse_locations::Column::LocationCode)
        .filter(warehouse_locations::Column::AccountId.eq(account.as_str()))
        .filter(key_columns.in_tuples(keys.iter().cloned()))
        .order_by_asc(warehouse_locations::Column::WarehouseId)
        .order_by_asc(warehouse_locations::Column::LocationCode);
    if lock {
        query = query.lock_exclusive();
    }
    let found = query.into_tuple::<LocationKey>().all(connection).await?;
    Ok(found.into_iter().collect())
}

/// Writes one chunk under `write` and records each written row's outcome by key;
/// rows left out of `by_key` were not changed.
async fn write_chunk(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: &AccountId,
    chunk: &[&Location],
    write: WriteMode,
    by_key: &mut HashMap<LocationKey, RowOutcome>,
) -> Result<(), Error> {
    match write {
        WriteMode::CreateOrUpdate => {
            by_key.extend(upsert_locations(transaction, job, account, chunk, write).await?);
        }
        WriteMode::CreateOnly => {
            by_key.extend(chunk.iter().map(|row| (key_of(row), RowOutcome::AlreadyExists)));
            by_key.extend(upsert_locations(transaction, job, account, chunk, write).await?);
        }
        WriteMode::UpdateOnly => {
            let keys: Vec<LocationKey> = chunk.iter().map(|row| key_of(row)).collect();
            let known = existing(transaction, account, &keys, true).await?;
            let (present, missing): (Vec<&Location>, Vec<&Location>) =
                chunk.iter().copied().partition(|row| known.contains(&key_of(row)));
            by_key.extend(missing.iter().map(|row| (key_of(row), RowOutcome::DoesNotExist)));
            if !present.is_empty() {
                // Locked above, so every one of them is updated or left unchanged.
                by_key.extend(upsert_locations(transaction, job, account, &present, write).await?);
            }
        }
    }
    Ok(())
}

fn checkpoint_row(job: JobId, after: &Checkpoint) -> Result<job_checkpoints::ActiveModel, Error> {
    Ok(job_checkpoints::ActiveModel {
        job_id: Set(job.as_uuid()),
        attempt: Set(write_i32("attempt", after.attempt)?),
        rows_committed: Set(write_i64("rows_committed", after.rows_committed)?),
        rows_created: Set(write_i64("rows_created", after.rows_created)?),
        rows_updated: Set(write_i64("rows_updated", after.rows_updated)?),
        rows_unchanged: Set(write_i64("rows_unchanged", after.rows_unchanged)?),
        rows_rejected: Set(write_i64("rows_rejected", after.rows_rejected)?),
        updated_at: NotSet,
    })
}

/// One multi-row `INSERT ... ON CONFLICT DO UPDATE ... WHERE <something differs>`
/// (`ON CONFLICT DO NOTHING` for create-only), returning the written keys.
///
/// Rows that differ in nothing are skipped by the WHERE and return no row (they are
/// unchanged); of the returned rows, `xmax = 0` marks the freshly inserted ones (an
/// updated row version carries the updating transaction).
async fn upsert_locations(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: &AccountId,
    rows: &[&Location],
    write: WriteMode,
) -> Result<Vec<(LocationKey, RowOutcome)>, Error> {
    let table = warehouse_locations::Entity.table_name();
    let key_columns = [
        warehouse_locations::Column::AccountId,
        warehouse_locations::Column::WarehouseId,
        warehouse_locations::Column::LocationCode,
    ];
    let mut insert = Query::insert();
    insert
        .into_table(warehouse_locations::Entity.table_ref())
        .columns(key_columns.into_iter().chain(DATA_COLUMNS));
    for row in rows {
        // The domain caps capacity at 1,000,000, far inside an int.
        let capacity = row.capacity.map(|value| write_i32("capacity", value)).transpose()?;
        let values: Vec<SimpleExpr> = vec![
            account.as_str().into(),
            row.warehouse_id.as_str().into(),
            row.location_code.as_str().into(),
            row.zone.clone().into(),
            row.aisle.clone().into(),
            row.bay.clone().into(),
            row.level.clone().into(),
            row.location_type.map(|kind| kind.as_str().to_owned()).into(),
            row.pickable.into(),
            capacity.into(),
            job.as_uuid().into(),
        ];
        insert.values(values).map_err(|error| DbErr::Custom(error.to_string()))?;
    }
    let compared = &DATA_COLUMNS[..DATA_COLUMNS.len() - 1];
    let current: Vec<String> =
        compared.iter().map(|column| format!("\"{table}\".\"{}\"", column.to_string())).collect();
    let proposed: Vec<String> =
        compared.iter().map(|column| format!("excluded.\"{}\"", column.to_string())).collect();
    let something_differs =
        format!("({}) IS DISTINCT FROM ({})", current.join(", "), proposed.join(", "));
    let mut conflict = OnConflict::columns(key_columns);
    if write == WriteMode::CreateOnly {
        conflict.do_nothing();
    } else {
        conflict
            .update_columns(DATA_COLUMNS)
            .value(warehouse_locations::Column::UpdatedAt, Expr::cust("now()"))
            .action_and_where(Expr::cust(something_differs));
    }
    insert.on_conflict(conflict).returning(Query::returning().exprs([
        Expr::col(warehouse_locations::Column::WarehouseId).into(),
        Expr::col(warehouse_locations::Column::LocationCode).into(),
        Expr::cust("xmax = 0"),
    ]));

    let statement = transaction.get_database_backend().build(&insert);
    let returned = transaction.query_all(statement).await?;
    let mut written = Vec::with_capacity(returned.len());
    for row in &returned {
        let warehouse: String = row.try_get_by_index(0)?;
        let code: String = row.try_get_by_index(1)?;
        let inserted: bool = row.try_get_by_index(2)?;
        let outcome = if inserted { RowOutcome::Created } else { RowOutcome::Updated };
        written.push(((warehouse, code), outcome));
    }
    Ok(written)
}
