//! Upserting a batch of warehouse locations together with the job's checkpoint.

use std::collections::HashSet;

use bgjobs_domain::{AccountId, JobId};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DatabaseTransaction, DbErr, EntityName, EntityTrait, Iden, TransactionTrait,
};

use super::Location;
use crate::catalog::{BatchOutcome, Checkpoint};
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
        let mut seen = HashSet::with_capacity(rows.len());
        let key = |row: &Location| (row.warehouse_id.clone(), row.location_code.clone());
        if let Some(duplicate) = rows.iter().find(|row| !seen.insert(key(row))) {
            return Err(Error::InvalidInput(format!(
                "location '{}' of warehouse '{}' appears more than once in one batch",
                duplicate.location_code, duplicate.warehouse_id
            )));
        }
        let checkpoint = checkpoint_row(job, after)?;
        // Rows in key order, so concurrent batches touching the same locations lock
        // them in the same order and cannot deadlock.
        let mut sorted: Vec<&Location> = rows.iter().collect();
        sorted.sort_unstable_by(|left, right| {
            (&left.warehouse_id, &left.location_code)
                .cmp(&(&right.warehouse_id, &right.location_code))
        });

        let transaction = self.connection.begin().await?;
        let mut outcome = BatchOutcome::default();
        for chunk in sorted.chunks(ROWS_PER_STATEMENT) {
            let chunk_outcome = upsert_locations(&transaction, job, account, chunk).await?;
            outcome.created += chunk_outcome.created;
            outcome.updated += chunk_outcome.updated;
            outcome.unchanged += chunk_outcome.unchanged;
        }
        job_checkpoints::Entity::insert(checkpoint)
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
        Ok(outcome)
    }
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

/// One multi-row `INSERT ... ON CONFLICT DO UPDATE ... WHERE <something differs>`.
///
/// Rows that differ in nothing are skipped by the WHERE and return no row, so
/// unchanged = rows sent - rows returned; of the returned rows, `xmax = 0` marks the
/// freshly inserted ones (an updated row version carries the updating transaction).
async fn upsert_locations(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: &AccountId,
    rows: &[&Location],
) -> Result<BatchOutcome, Error> {
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
    insert
        .on_conflict(
            OnConflict::columns(key_columns)
                .update_columns(DATA_COLUMNS)
                .value(warehouse_locations::Column::UpdatedAt, Expr::cust("now()"))
                .action_and_where(Expr::cust(something_differs))
                .to_owned(),
        )
        .returning(Query::returning().expr(Expr::cust("xmax = 0")));

    let statement = transaction.get_database_backend().build(&insert);
    let returned = transaction.query_all(statement).await?;
    let mut outcome = BatchOutcome::default();
    for row in &returned {
        if row.try_get_by_index::<bool>(0)? {
            outcome.created += 1;
        } else {
            outcome.updated += 1;
        }
    }
    outcome.unchanged = (rows.len() - returned.len()) as u64;
    Ok(outcome)
}
