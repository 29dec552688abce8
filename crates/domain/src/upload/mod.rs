//! Upload rules shared by the upload consumers: header matching, row values and
//! the checks each column must pass. Pure functions over already-split CSV fields.

pub mod characters;
mod country;
pub mod fields;
pub mod header;
pub mod location;
pub mod product;
pub mod results;
pub mod write;

/// Why one row was rejected; the row number counts data rows from 1 (the header is
/// not a row), as the user sees them in a spreadsheet minus the header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based data row number.
    pub row: u64,
    /// The row's natural key (SKU, location code) when it could be read.
    pub key: Option<String>,
    /// What is wrong, in plain words.
    pub reason: String,
}
