//! Reads a warehouse locations file: the shared streamed CSV reader with the
//! location rules, warehouse references checked against the account's warehouses,
//! and a (warehouse, location code) given twice rejected naming the row of the first.

use std::collections::HashSet;

use bgjobs_domain::upload::Rejection;
use bgjobs_domain::upload::location::{self, Location};
use bgjobs_upload_pipeline::FirstRows;
use bgjobs_upload_pipeline::reader as pipeline;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// One row as parsed: a valid location or a rejection.
pub type ParsedRow = pipeline::ParsedRow<Location>;

/// What the reader hands over (see [`pipeline::Parsed`]).
pub type Parsed = pipeline::Parsed<Location>;

/// Starts reading `source` on a blocking thread; rows arrive in chunks of
/// `chunk_rows`. `warehouses` are the references of the job account's warehouses,
/// looked up once per job rather than once per row. Must be called from within a
/// tokio runtime.
pub fn spawn(
    source: Box<dyn AsyncRead + Send + Unpin>,
    chunk_rows: usize,
    warehouses: HashSet<String>,
) -> mpsc::Receiver<Parsed> {
    let mut first_rows = FirstRows::default();
    pipeline::spawn(source, location::COLUMNS, chunk_rows, move |row, fields, index| {
        let location = location::parse(row, fields, index, |id| warehouses.contains(id))?;
        let key = (location.warehouse_id.clone(), location.location_code.clone());
        match first_rows.first_seen(key, row) {
            Some(first) => Err(Rejection {
                row,
                key: Some(location.location_code.clone()),
                reason: format!(
                    "location_code: '{}' of warehouse '{}' appears again; it was first given in row {first}",
                    location.location_code, location.warehouse_id
                ),
            }),
            None => Ok(location),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn reasons(content: &'static [u8]) -> Vec<(u64, Result<String, String>)> {
        let warehouses = HashSet::from(["WH1".to_owned(), "WH2".to_owned()]);
        let mut receiver = spawn(Box::new(content), 10, warehouses);
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
    async fn a_location_given_twice_in_one_warehouse_is_rejected_naming_the_first_row() {
        let rows = reasons(b"warehouse,location_code\nWH1,a-1\nWH2,A-1\nWH1,A-1\n").await;
        assert_eq!(
            rows,
            vec![
                (1, Ok("A-1".to_owned())),
                (2, Ok("A-1".to_owned())),
                (
                    3,
                    Err("location_code: 'A-1' of warehouse 'WH1' appears again; it was first given in row 1"
                        .to_owned())
                ),
            ]
        );
    }

    #[tokio::test]
    async fn a_warehouse_outside_the_account_is_rejected_and_does_not_claim_the_key() {
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
