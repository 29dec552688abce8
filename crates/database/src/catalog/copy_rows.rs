//! The input of a `COPY … FROM STDIN` in Postgres' text format, written row by row into
//! one buffer: fields separated by tabs, rows ended by newlines, NULL as `\N`, and a
//! backslash, tab, newline or carriage return within a value escaped.

use std::fmt::{self, Display, Write};

use super::array_literal::DataSink;

/// Rows being written for a `COPY`.
#[derive(Debug, Default)]
pub(crate) struct CopyRows {
    text: String,
    /// Fields of the row being written so far.
    fields: usize,
}

impl CopyRows {
    /// No rows yet, with room for about `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self { text: String::with_capacity(bytes), fields: 0 }
    }

    /// Ends a row; returns how many fields it had.
    pub(crate) fn end_row(&mut self) -> usize {
        self.text.push('\n');
        std::mem::take(&mut self.fields)
    }

    /// The rows written, as the copy's input.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }
}

impl DataSink for CopyRows {
    fn display(&mut self, value: Option<impl Display>) {
        if self.fields > 0 {
            self.text.push('\t');
        }
        self.fields += 1;
        match value {
            None => self.text.push_str("\\N"),
            // Writing into a String cannot fail; a Display that fails is a bug of its
            // own and would have failed `to_string` too.
            Some(value) => {
                let _ = write!(Escaped(&mut self.text), "{value}");
            }
        }
    }
}

/// Writes into a field, escaping what would end or escape it.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Byte by byte: all four are ASCII, so every cut falls between characters.
        let mut start = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escaped = match byte {
                b'\\' => "\\\\",
                b'\t' => "\\t",
                b'\n' => "\\n",
                b'\r' => "\\r",
                _ => continue,
            };
            self.0.push_str(&text[start..at]);
            self.0.push_str(escaped);
            start = at + 1;
        }
        self.0.push_str(&text[start..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{CopyRows, DataSink};

    #[test]
    fn fields_are_tab_separated_escaped_and_null_is_backslash_n() {
        let mut rows = CopyRows::with_capacity(0);
        rows.text(Some("a\tb\\c\nd\re"));
        rows.text(None);
        rows.text(Some("\\N"));
        rows.display(Some(1.5));
        assert_eq!(rows.end_row(), 4);
        rows.text(Some("é"));
        rows.text(Some(""));
        assert_eq!(rows.end_row(), 2);
        let text = String::from_utf8(rows.into_bytes()).expect("UTF-8");
        assert_eq!(text, "a\\tb\\\\c\\nd\\re\t\\N\t\\\\N\t1.5\né\t\n");
    }
}
