//! Product rows for the shared upload pass: the product rules, and batches written
//! to (or checked against) the client's products. A SKU given twice is found by the
//! store, which names the row of the first.

use bgjobs_database::CatalogStore;
use bgjobs_database::catalog::{AppliedBatch, BatchTurn};
use bgjobs_domain::upload::header::{ColumnIndex, ColumnSpec};
use bgjobs_domain::upload::write::{RowOutcome, WriteMode, product_refusal};
use bgjobs_domain::upload::{Rejection, product};
use bgjobs_domain::{AccountId, JobId};
use bgjobs_upload::UploadRows;

/// The products of one client.
#[derive(Debug, Clone)]
pub struct ProductRows {
    /// The client the products belong to.
    pub client_id: String,
}

impl UploadRows for ProductRows {
    type Row = product::Product;
    const COLUMNS: &'static [ColumnSpec] = product::COLUMNS;

    fn parser(
        &self,
    ) -> impl FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<product::Product, Rejection> + Send + 'static
    {
        product::parse
    }

    fn key(row: &product::Product) -> &str {
        &row.sku
    }

    fn refusal(row: &product::Product, outcome: RowOutcome) -> Option<String> {
        product_refusal(&row.sku, outcome)
    }

    async fn apply(
        &self,
        store: &CatalogStore,
        job: JobId,
        account: &AccountId,
        rows: &[(u64, product::Product)],
        write: WriteMode,
        turn: BatchTurn,
    ) -> Result<AppliedBatch, bgjobs_database::Error> {
        store.apply_product_batch_in_turn(job, account, &self.client_id, rows, write, turn).await
    }

    async fn check(
        &self,
        store: &CatalogStore,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        rows: &[(u64, product::Product)],
        write: WriteMode,
    ) -> Result<Vec<Option<RowOutcome>>, bgjobs_database::Error> {
        store.check_product_batch(job, attempt, account, &self.client_id, rows, write).await
    }
}

#[cfg(test)]
mod tests;
