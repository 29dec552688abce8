//! Writing a batch of products of one client, with the job's key claims and checkpoint.

use std::collections::HashSet;

use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use sea_orm::Value;

use super::array_literal::DataColumns;
use super::upload_batch::{self, Column, UploadTable};
use super::{AppliedBatch, BatchChain, BatchTurn, Checkpoint, Product};
use crate::entities::products;
use crate::{CatalogStore, Error};

/// The products of one client of one account.
struct Products<'a> {
    account: &'a AccountId,
    client_id: &'a str,
}

impl UploadTable for Products<'_> {
    type Entity = products::Entity;
    type Row = Product;
    const KEY: &'static [Column<Self>] = &[products::Column::Sku];
    const DATA: &'static [Column<Self>] = &[
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
    const LAST_JOB_ID: Column<Self> = products::Column::LastJobId;
    const UPDATED_AT: Column<Self> = products::Column::UpdatedAt;

    fn scope(&self) -> Vec<(Column<Self>, Value)> {
        vec![
            (products::Column::AccountId, self.account.as_str().into()),
            (products::Column::ClientId, self.client_id.into()),
        ]
    }

    fn client(&self) -> Option<(&AccountId, &str)> {
        Some((self.account, self.client_id))
    }

    fn key_parts(row: &Product) -> Vec<&str> {
        vec![row.sku.as_str()]
    }

    fn write_data(row: &Product, columns: &mut DataColumns) {
        columns.text(Some(&row.name));
        columns.text(row.description.as_deref());
        columns.text(row.barcode.as_deref());
        columns.display(row.weight_kg);
        columns.display(row.length_cm);
        columns.display(row.width_cm);
        columns.display(row.height_cm);
        columns.display(row.price);
        columns.text(row.hs_code.as_deref());
        columns.text(row.country_of_origin.as_deref());
    }
}

impl CatalogStore {
    /// Writes a batch of products of `client_id` of `account` for upload job `job`, in
    /// one transaction with the job's key claims and checkpoint: either all of it is
    /// committed or none of it.
    ///
    /// `rows` are `(1-based input row number, product)`. Every row claims its SKU for
    /// the job; a row whose SKU an earlier row claimed (in this batch or a committed
    /// one) is [`RowOutcome::Duplicate`] and not written. The others are written under
    /// `write`: created when new, updated only when a value differs, otherwise left
    /// unchanged; create-only refuses existing SKUs ([`RowOutcome::AlreadyExists`])
    /// unless `job` itself wrote them last (an earlier attempt of it: they are its
    /// own), update-only unknown ones ([`RowOutcome::DoesNotExist`]), and refused rows still
    /// hold their claim. The checkpoint is `after` plus this batch's outcome, refused
    /// and duplicate rows counted as rejected. `AppliedBatch::rows[i]` is the outcome of
    /// `rows[i]`.
    ///
    /// Replaying a committed batch (same row numbers) finds each row's own claim: it
    /// reports the same duplicates and every written row unchanged.
    ///
    /// Refused, writing nothing, once a deletion of the client has begun
    /// ([`Error::ClientBeingDeleted`]) or when the client does not exist
    /// ([`Error::ClientNotFound`]), or once the checkpoint's attempt of the job is
    /// superseded ([`Error::Superseded`]).
    pub async fn apply_product_batch_as(
        &self,
        job: JobId,
        account: &AccountId,
        client_id: &str,
        rows: &[(u64, Product)],
        write: WriteMode,
        after: &Checkpoint,
    ) -> Result<AppliedBatch, Error> {
        let turn = BatchChain::starting_at(*after).next(after.rows_committed, 0);
        self.apply_product_batch_in_turn(job, account, client_id, rows, write, turn).await
    }

    /// [`CatalogStore::apply_product_batch_as`] for one of several batches of a pass
    /// written side by side: the batch begins and records its checkpoint in `turn`,
    /// adding its counts to the totals the batch before it committed.
    pub async fn apply_product_batch_in_turn(
        &self,
        job: JobId,
        account: &AccountId,
        client_id: &str,
        rows: &[(u64, Product)],
        write: WriteMode,
        turn: BatchTurn,
    ) -> Result<AppliedBatch, Error> {
        let table = Products { account, client_id };
        let rows: Vec<(u64, &Product)> = rows.iter().map(|(number, row)| (*number, row)).collect();
        upload_batch::apply_batch(&self.connection, &table, job, &rows, write, turn).await
    }

    /// The validation pass of an all-or-nothing product upload: claims every row's SKU
    /// for `job` exactly as [`CatalogStore::apply_product_batch_as`] does (committed, with no
    /// checkpoint and no product written) and returns per row `None` if it would be
    /// written, or the refusal it would get (duplicate, or refused by `write`).
    /// Refused like [`CatalogStore::apply_product_batch_as`] while the client is being deleted
    /// or once `attempt` is superseded.
    pub async fn check_product_batch(
        &self,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        client_id: &str,
        rows: &[(u64, Product)],
        write: WriteMode,
    ) -> Result<Vec<Option<RowOutcome>>, Error> {
        let table = Products { account, client_id };
        let rows: Vec<(u64, &Product)> = rows.iter().map(|(number, row)| (*number, row)).collect();
        upload_batch::check_batch(&self.connection, &table, job, attempt, &rows, write).await
    }

    /// The SKUs among `skus` that `client_id` of `account` already has.
    pub async fn existing_skus(
        &self,
        account: &AccountId,
        client_id: &str,
        skus: &[&str],
    ) -> Result<HashSet<String>, Error> {
        let table = Products { account, client_id };
        let keys: Vec<Vec<&str>> = skus.iter().map(|sku| vec![*sku]).collect();
        upload_batch::existing_keys(&self.connection, &table, &keys).await
    }
}
