//! Conversions between the domain's unsigned numbers and Postgres' signed columns.
//!
//! Postgres has no unsigned integers. Reading a negative or oversized value is a
//! [`Error::Corrupt`]; writing a value the column cannot hold is an
//! [`Error::InvalidInput`]. Nothing is silently truncated.

use crate::Error;

/// Reads an `int` column into a `u32`.
pub(crate) fn read_u32(column: &str, value: i32) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| Error::Corrupt(format!("{column} is {value}")))
}

/// Reads a `bigint` column into a `u64`.
pub(crate) fn read_u64(column: &str, value: i64) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{column} is {value}")))
}

/// Prepares a `u32` for an `int` column.
pub(crate) fn write_i32(column: &str, value: u32) -> Result<i32, Error> {
    i32::try_from(value)
        .map_err(|_| Error::InvalidInput(format!("{column} {value} is above {}", i32::MAX)))
}

/// Prepares a `u64` for a `bigint` column.
pub(crate) fn write_i64(column: &str, value: u64) -> Result<i64, Error> {
    i64::try_from(value)
        .map_err(|_| Error::InvalidInput(format!("{column} {value} is above {}", i64::MAX)))
}

/// Parses a text column with the domain's `FromStr`.
pub(crate) fn parse<T: std::str::FromStr>(column: &str, value: &str) -> Result<T, Error> {
    value.parse().map_err(|_| Error::Corrupt(format!("{column} is '{value}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_stored_numbers_are_corrupt_not_wrapped() {
        assert!(matches!(read_u32("attempt", -1), Err(Error::Corrupt(_))));
        assert!(matches!(read_u64("rows_total", -5), Err(Error::Corrupt(_))));
        assert_eq!(read_u64("rows_total", 5).ok(), Some(5));
    }

    #[test]
    fn numbers_above_the_column_range_are_refused_not_truncated() {
        assert!(matches!(write_i32("attempt", u32::MAX), Err(Error::InvalidInput(_))));
        assert!(matches!(write_i64("rows_total", u64::MAX), Err(Error::InvalidInput(_))));
        assert_eq!(write_i64("rows_total", 7).ok(), Some(7));
    }
}
