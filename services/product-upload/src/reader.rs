//! Reads a product file: the shared streamed CSV reader with the product rules,
//! and SKUs given twice rejected naming the row of the first.

use bgjobs_domain::upload::{Rejection, product};
use bgjobs_upload_pipeline::FirstRows;
use bgjobs_upload_pipeline::reader as pipeline;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// One row as parsed: a valid product or a rejection.
pub type ParsedRow = pipeline::ParsedRow<product::Product>;

/// What the reader hands over (see [`pipeline::Parsed`]).
pub type Parsed = pipeline::Parsed<product::Product>;

/// Starts reading `source` on a blocking thread; rows arrive in chunks of `chunk_rows`.
/// Must be called from within a tokio runtime.
pub fn spawn(
    source: Box<dyn AsyncRead + Send + Unpin>,
    chunk_rows: usize,
) -> mpsc::Receiver<Parsed> {
    let mut first_rows = FirstRows::default();
    pipeline::spawn(source, product::COLUMNS, chunk_rows, move |row, fields, index| {
        let product = product::parse(row, fields, index)?;
        match first_rows.first_seen(product.sku.clone(), row) {
            Some(first) => Err(Rejection {
                row,
                key: Some(product.sku.clone()),
                reason: format!(
                    "sku: '{}' appears again; it was first given in row {first}",
                    product.sku
                ),
            }),
            None => Ok(product),
        }
    })
}

#[cfg(test)]
mod tests;
