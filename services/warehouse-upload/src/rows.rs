//! Location rows for the shared upload pass: the location rules, warehouse
//! references checked against the account's warehouses, and batches written to (or
//! checked against) the account's locations. A (warehouse, location code) given
//! twice is found by the store, which names the row of the first.

use std::collections::HashSet;
use std::sync::Arc;

use bgjobs_database::CatalogStore;
use bgjobs_database::catalog::{AppliedBatch, BatchTurn};
use bgjobs_domain::upload::Rejection;
use bgjobs_domain::upload::header::{ColumnIndex, ColumnSpec};
use bgjobs_domain::upload::location::{self, Location};
use bgjobs_domain::upload::write::{RowOutcome, WriteMode, location_refusal};
use bgjobs_domain::{AccountId, JobId};
use bgjobs_upload::UploadRows;

/// The locations of one account.
#[derive(Debug, Clone)]
pub struct LocationRows {
    /// The references of the account's warehouses, looked up once per job rather
    /// than once per row.
    pub warehouses: Arc<HashSet<String>>,
}

impl UploadRows for LocationRows {
    type Row = Location;
    const COLUMNS: &'static [ColumnSpec] = location::COLUMNS;

    fn parser(
        &self,
    ) -> impl FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<Location, Rejection> + Send + 'static
    {
        let warehouses = Arc::clone(&self.warehouses);
        move |row, fields, index| location::parse(row, fields, index, |id| warehouses.contains(id))
    }

    fn key(row: &Location) -> &str {
        &row.location_code
    }

    fn refusal(row: &Location, outcome: RowOutcome) -> Option<String> {
        location_refusal(&row.warehouse_id, &row.location_code, outcome)
    }

    async fn apply(
        &self,
        store: &CatalogStore,
        job: JobId,
        account: &AccountId,
        rows: &[(u64, Location)],
        write: WriteMode,
        turn: BatchTurn,
    ) -> Result<AppliedBatch, bgjobs_database::Error> {
        store.apply_location_batch_in_turn(job, account, rows, write, turn).await
    }

    async fn check(
        &self,
        store: &CatalogStore,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        rows: &[(u64, Location)],
        write: WriteMode,
    ) -> Result<Vec<Option<RowOutcome>>, bgjobs_database::Error> {
        store.check_location_batch(job, attempt, account, rows, write).await
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_upload::reader::{self, Parsed};

    use super::*;

    async fn reasons(content: &'static [u8]) -> Vec<(u64, Result<String, String>)> {
        let warehouses = HashSet::from(["WH1".to_owned(), "WH2".to_owned()]);
        let rows = LocationRows { warehouses: Arc::new(warehouses) };
        let format = reader::FileFormat {
            columns: LocationRows::COLUMNS,
            encoding: None,
            limits: reader::Limits::DEFAULT,
        };
        let mut receiver = reader::spawn(Box::new(content), format, 10, rows.parser());
        let mut rows = Vec::new();
        while let Some(parsed) = receiver.recv().await {
            if let Parsed::Rows(chunk) = parsed {
                rows.extend(chunk.into_iter().map(|(row, result)| {
                    (row, result.map(|l| l.location_code).map_err(|r| r.reason))
                }));
            }
        }
        rows
    }

    #[tokio::test]
    async fn a_warehouse_outside_the_account_is_rejected() {
        let rows = reasons(b"warehouse_ref;bin\nWH9;A-1\nWH1;A-1\n").await;
        assert_eq!(
            rows,
            vec![
                (1, Err("warehouse: 'WH9' does not exist in this account".to_owned())),
                (2, Ok("A-1".to_owned())),
            ]
        );
    }
}
