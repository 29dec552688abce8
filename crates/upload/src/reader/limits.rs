//! How much one row of an upload may hold, and what the reader says of a row that
//! holds more. The row limit is what bounds the reader's memory (see `watch`); the
//! field limit is checked on a row already held within it.

use bgjobs_domain::upload::results::thousands;

use super::watch::{Overflow, StuckInQuotes};

/// The most one row may hold (the `BGJOBS_CSV_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one row as in the file (after decoding to UTF-8), quotes and
    /// separators included, its line break not.
    pub row_bytes: u64,
    /// Bytes of one field's value.
    pub field_bytes: u64,
    /// Fields of one row, the header line's included.
    pub columns: u64,
}

impl Limits {
    /// The settings' defaults: 1 MiB a row, 64 KiB a field, 1,000 fields.
    pub const DEFAULT: Self = Self { row_bytes: 1 << 20, field_bytes: 64 << 10, columns: 1000 };

    /// Why a row the reader cut short is rejected; `header_width` is the header's
    /// number of columns.
    pub fn overflow_reason(&self, overflow: Overflow, header_width: usize) -> String {
        match overflow {
            Overflow::RowBytes => format!(
                "the row is longer than {}, the most a row may hold; it was not read further",
                in_words(self.row_bytes)
            ),
            Overflow::Columns => format!(
                "the row has more than {} fields, the most a row may have; the header has {}",
                thousands(self.columns),
                thousands(header_width as u64)
            ),
        }
    }

    /// Why a header line the reader cut short makes the file unusable.
    pub fn header_overflow(&self, overflow: Overflow) -> String {
        match overflow {
            Overflow::RowBytes => format!(
                "the header line is longer than {}, the most a row may hold; the file does not \
                 look like CSV with a header line",
                in_words(self.row_bytes)
            ),
            Overflow::Columns => format!(
                "the header line has more than {} columns, the most a file may have; the file \
                 does not look like CSV with a header line",
                thousands(self.columns)
            ),
        }
    }

    /// Why the rest of the file cannot be read: row `row` grew past the row limit
    /// inside a quoted field.
    pub fn stuck_in_quotes(&self, stuck: StuckInQuotes, row: u64) -> String {
        format!(
            "line {} (row {}) is longer than {}, the most a row may hold, inside a quoted field \
             opened on line {} that is still open: the quote is probably never closed, so the \
             rest of the file was not read",
            thousands(stuck.record_line),
            thousands(row),
            in_words(self.row_bytes),
            thousands(stuck.quote_line)
        )
    }

    /// Why a header line whose quoted field outgrew the row limit is unusable.
    pub fn header_stuck_in_quotes(&self) -> String {
        format!(
            "the header line opens a quoted field that is not closed within {}, the most a row \
             may hold; the file does not look like CSV with a header line",
            in_words(self.row_bytes)
        )
    }

    /// Why a row is rejected when one of `fields` is over the field limit; `None` when
    /// none is.
    pub fn oversized_field<'f>(
        &self,
        fields: impl IntoIterator<Item = &'f [u8]>,
    ) -> Option<String> {
        let (position, field) = fields
            .into_iter()
            .enumerate()
            .find(|(_, field)| field.len() as u64 > self.field_bytes)?;
        Some(format!(
            "field {} is {} bytes long; a field may hold at most {}",
            position + 1,
            thousands(field.len() as u64),
            in_words(self.field_bytes)
        ))
    }
}

/// A number of bytes as people write it: "1 MiB", "64 KiB", "1,000 bytes".
pub fn in_words(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", thousands(bytes / size));
        }
    }
    format!("{} bytes", thousands(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(in_words(1 << 20), "1 MiB");
        assert_eq!(in_words(64 << 10), "64 KiB");
        assert_eq!(in_words(3 << 30), "3 GiB");
        assert_eq!(in_words(1000), "1,000 bytes");
        assert_eq!(in_words(1536), "1,536 bytes");
    }

    #[test]
    fn the_first_field_over_the_limit_is_named() {
        let limits = Limits { row_bytes: 100, field_bytes: 4, columns: 10 };
        let fields: [&[u8]; 3] = [b"abcd", b"abcde", b"abcdefgh"];
        assert_eq!(
            limits.oversized_field(fields),
            Some("field 2 is 5 bytes long; a field may hold at most 4 bytes".to_owned())
        );
        assert_eq!(limits.oversized_field([&b"abcd"[..]]), None);
    }
}
