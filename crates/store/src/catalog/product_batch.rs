//! Upserting a batch of products together with the job's checkpoint.

use std::collections::{HashMap, HashSet};

use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityName, EntityTrait, Iden,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::{AppliedBatch, BatchOutcome, Checkpoint, Product};
use crate::convert::{write_i32, write_i64};
use crate::entities::{job_checkpoints, products};
use crate::{Error, Store};

/// Rows per INSERT statement: 1,000 rows x 14 values stays far below Postgres' limit
/// of 65,535 bind parameters, and the statement stays a single round trip.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The columns an upload sets; a row is "unchanged" when all of them already match.
const DATA_COLUMNS: [products::Column; 10] = [
    products::Column::Name,
    products::Column::Description,
    products::Column::Barcode,
    products::Column::WeightKg,
    products::Column::LengthCm,
    products::Column::WidthCm,
    products::Column::HeightCm,
    products::Column::Price,
    products::Column::HsCode,
    products::Column::CountryOfOrigin,
];

impl Store {
    /// Upserts `rows` into the products of `client_id` of `account` and records `after`
    /// (rows committed through this batch, totals before it) plus this batch's outcome
    /// as the checkpoint of `job`, in one
    /// transaction: either both are committed or neither.
    ///
    /// A row is created when its SKU is new, updated only when a value differs, and
    /// otherwise left untouched, so replaying a committed batch changes nothing and
    /// reports every row as unchanged. A SKU twice in one batch is
    /// [`Error::InvalidInput`]: validation must reject duplicates before they get here.
    pub async fn apply_product_batch(
        &self,
        job: JobId,
        account: &AccountId,
        client_id: &str,
        rows: &[Product],
        after: &Checkpoint,
    ) -> Result<BatchOutcome, Error> {
        let applied = self
            .apply_product_batch_as(job, account, client_id, rows, WriteMode::CreateOrUpdate, after)
            .await?;
        Ok(applied.counts)
    }

    /// [`Store::apply_product_batch`] under a write mode, with each row's outcome in
    /// input order: create-only leaves existing SKUs alone ([`RowOutcome::AlreadyExists`]),
    /// update-only leaves unknown SKUs alone ([`RowOutcome::DoesNotExist`]).
    /// Refused rows are added to `after.rows_rejected` in the checkpoint written.
    pub async fn apply_product_batch_as(
        &self,
        job: JobId,
        account: &AccountId,
        client_id: &str,
        rows: &[Product],
        write: WriteMode,
        after: &Checkpoint,
    ) -> Result<AppliedBatch, Error> {
        let mut seen = HashSet::with_capacity(rows.len());
        if let Some(duplicate) = rows.iter().find(|row| !seen.insert(row.sku.as_str())) {
            return Err(Error::InvalidInput(format!(
                "SKU '{}' appears more than once in one batch",
                duplicate.sku
            )));
        }
        // Rows in key order, so concurrent batches touching the same products lock them in
        // the same order and cannot deadlock.
        let mut sorted: Vec<&Product> = rows.iter().collect();
        sorted.sort_unstable_by(|left, right| left.sku.cmp(&right.sku));

        let transaction = self.connection.begin().await?;
        let mut by_sku: HashMap<String, RowOutcome> = HashMap::with_capacity(rows.len());
        for chunk in sorted.chunks(ROWS_PER_STATEMENT) {
            write_chunk(&transaction, job, account, client_id, chunk, write, &mut by_sku).await?;
        }
        let outcomes: Vec<RowOutcome> = rows
            .iter()
            .map(|row| by_sku.get(&row.sku).copied().unwrap_or(RowOutcome::Unchanged))
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

    /// The SKUs among `skus` that `client_id` of `account` already has: the
    /// existence check of a create-only or update-only upload's validation pass.
    pub async fn existing_skus(
        &self,
        account: &AccountId,
        client_id: &str,
        skus: &[&str],
    ) -> Result<HashSet<String>, Error> {
        existing(&self.connection, account, client_id, skus, false).await
    }
}

/// The SKUs among `skus` that exist; `lock` takes their row locks (in key order) so
/// they cannot go away before the transaction ends.
async fn existing<C: ConnectionTrait>(
    connection: &C,
    account: &AccountId,
    client_id: &str,
    skus: &[&str],
    lock: bool,
) -> Result<HashSet<String>, Error> {
    if skus.is_empty() {
        return Ok(HashSet::new());
    }
    let mut query = products::Entity::find()
        .select_only()
        .column(products::Column::Sku)
        .filter(products::Column::AccountId.eq(account.as_str()))
        .filter(products::Column::ClientId.eq(client_id))
        .filter(products::Column::Sku.is_in(skus.iter().copied()))
        .order_by_asc(products::Column::Sku);
    if lock {
        query = query.lock_exclusive();
    }
    let found = query.into_tuple::<String>().all(connection).await?;
    Ok(found.into_iter().collect())
}

/// Writes one chunk under `write` and records each written row's outcome by SKU;
/// rows left out of `by_sku` were not changed (or, by the mode, refused).
async fn write_chunk(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: &AccountId,
    client_id: &str,
    chunk: &[&Product],
    write: WriteMode,
    by_sku: &mut HashMap<String, RowOutcome>,
) -> Result<(), Error> {
    match write {
        WriteMode::CreateOrUpdate => {
            by_sku
                .extend(upsert_products(transaction, job, account, client_id, chunk, write).await?);
        }
        WriteMode::CreateOnly => {
            for row in chunk {
                by_sku.insert(row.sku.clone(), RowOutcome::AlreadyExists);
            }
            by_sku
                .extend(upsert_products(transaction, job, account, client_id, chunk, write).await?);
        }
        WriteMode::UpdateOnly => {
            let skus: Vec<&str> = chunk.iter().map(|row| row.sku.as_str()).collect();
            let known = existing(transaction, account, client_id, &skus, true).await?;
            let (present, missing): (Vec<&Product>, Vec<&Product>) =
                chunk.iter().copied().partition(|row| known.contains(&row.sku));
            for row in missing {
                by_sku.insert(row.sku.clone(), RowOutcome::DoesNotExist);
            }
            if !present.is_empty() {
                // Locked above, so every one of them is updated or left unchanged.
                by_sku.extend(
                    upsert_products(transaction, job, account, client_id, &present, write).await?,
                );
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
/// (`ON CONFLICT DO NOTHING` for create-only), returning the written SKUs.
///
/// Rows that differ in nothing are skipped by the WHERE and return no row (they are
/// unchanged); of the returned rows, `xmax = 0` marks the freshly inserted ones (an
/// updated row version carries the updating transaction).
async fn upsert_products(
    transaction: &DatabaseTransaction,
    job: JobId,
    account: &AccountId,
    client_id: &str,
    rows: &[&Product],
    write: WriteMode,
) -> Result<Vec<(String, RowOutcome)>, Error> {
    let table = products::Entity.table_name();
    let mut insert = Query::insert();
    insert.into_table(products::Entity.table_ref()).columns(
        [products::Column::AccountId, products::Column::ClientId, products::Column::Sku]
            .into_iter()
            .chain(DATA_COLUMNS)
            .chain([products::Column::LastJobId]),
    );
    for row in rows {
        let values: Vec<SimpleExpr> = vec![
            account.as_str().into(),
            client_id.into(),
            row.sku.as_str().into(),
            row.name.as_str().into(),
            row.description.clone().into(),
            row.barcode.clone().into(),
            row.weight_kg.into(),
            row.length_cm.into(),
            row.width_cm.into(),
            row.height_cm.into(),
            row.price.into(),
            row.hs_code.clone().into(),
            row.country_of_origin.clone().into(),
            job.as_uuid().into(),
        ];
        insert.values(values).map_err(|error| DbErr::Custom(error.to_string()))?;
    }
    let current: Vec<String> = DATA_COLUMNS
        .iter()
        .map(|column| format!("\"{table}\".\"{}\"", column.to_string()))
        .collect();
    let proposed: Vec<String> =
        DATA_COLUMNS.iter().map(|column| format!("excluded.\"{}\"", column.to_string())).collect();
    let something_differs =
        format!("({}) IS DISTINCT FROM ({})", current.join(", "), proposed.join(", "));
    let mut conflict = OnConflict::columns([
        products::Column::AccountId,
        products::Column::ClientId,
        products::Column::Sku,
    ]);
    if write == WriteMode::CreateOnly {
        conflict.do_nothing();
    } else {
        conflict
            .update_columns(DATA_COLUMNS)
            .update_column(products::Column::LastJobId)
            .value(products::Column::UpdatedAt, Expr::cust("now()"))
            .action_and_where(Expr::cust(something_differs));
    }
    insert.on_conflict(conflict).returning(
        Query::returning().exprs([Expr::col(products::Column::Sku).into(), Expr::cust("xmax = 0")]),
    );

    let statement = transaction.get_database_backend().build(&insert);
    let returned = transaction.query_all(statement).await?;
    let mut written = Vec::with_capacity(returned.len());
    for row in &returned {
        let sku: String = row.try_get_by_index(0)?;
        let inserted: bool = row.try_get_by_index(1)?;
        written.push((sku, if inserted { RowOutcome::Created } else { RowOutcome::Updated }));
    }
    Ok(written)
}
