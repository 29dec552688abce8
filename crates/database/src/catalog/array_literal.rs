//! Postgres array literals (`{"a","b",NULL}`), each built in one buffer, so that a
//! batch's values reach the driver as one text per column instead of one allocation
//! per value (a `Vec<String>` is cloned value by value on its way to the driver).
//!
//! A statement casts the text to the column's array type (`$3::numeric[]`), which
//! Postgres reads with the element type's own input, as it would a `COPY` field.

use std::fmt::{self, Display, Write};

use sea_orm::Value;

/// An array literal being built: every element quoted, with `\` and `"` escaped, and
/// `None` written as NULL.
#[derive(Debug)]
pub(crate) struct ArrayLiteral {
    text: String,
    elements: usize,
}

impl ArrayLiteral {
    /// An empty array with room for about `bytes` bytes of elements.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        let mut text = String::with_capacity(bytes + 2);
        text.push('{');
        Self { text, elements: 0 }
    }

    /// Appends `value`, or NULL for `None`.
    pub(crate) fn push(&mut self, value: Option<&str>) {
        self.push_display(value);
    }

    /// Appends what `value` displays as, or NULL for `None`, without an intermediate
    /// string.
    pub(crate) fn push_display(&mut self, value: Option<impl Display>) {
        if self.elements > 0 {
            self.text.push(',');
        }
        self.elements += 1;
        match value {
            None => self.text.push_str("NULL"),
            Some(value) => {
                self.text.push('"');
                // Writing into a String cannot fail; a Display that fails is a bug of
                // its own and would have failed `to_string` too.
                let _ = write!(Escaped(&mut self.text), "{value}");
                self.text.push('"');
            }
        }
    }

    /// Whether no element has been appended.
    pub(crate) fn is_empty(&self) -> bool {
        self.elements == 0
    }

    /// The finished literal, as a statement parameter.
    pub(crate) fn finish(mut self) -> Value {
        self.text.push('}');
        self.text.into()
    }
}

/// Writes into a quoted array element, escaping what would end or escape it.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Byte by byte: both are ASCII, so every cut falls between characters.
        let mut start = 0;
        for (at, byte) in text.bytes().enumerate() {
            if byte == b'\\' || byte == b'"' {
                self.0.push_str(&text[start..at]);
                self.0.push('\\');
                start = at;
            }
        }
        self.0.push_str(&text[start..]);
        Ok(())
    }
}

/// One array literal per data column of a batch, filled row by row, each row's values
/// in column order.
#[derive(Debug)]
pub(crate) struct DataColumns {
    columns: Vec<ArrayLiteral>,
    /// The column the row's next value goes to.
    next: usize,
}

impl DataColumns {
    /// `count` empty columns, for `rows` rows.
    pub(crate) fn new(count: usize, rows: usize) -> Self {
        let columns = (0..count).map(|_| ArrayLiteral::with_capacity(rows * 16)).collect();
        Self { columns, next: 0 }
    }

    /// The row's next value: a text, or NULL.
    pub(crate) fn text(&mut self, value: Option<&str>) {
        self.display(value);
    }

    /// The row's next value, as it displays (a number, a boolean), or NULL.
    pub(crate) fn display(&mut self, value: Option<impl Display>) {
        if let Some(column) = self.columns.get_mut(self.next) {
            column.push_display(value);
        }
        self.next += 1;
    }

    /// Ends a row; returns how many values it had.
    pub(crate) fn end_row(&mut self) -> usize {
        std::mem::take(&mut self.next)
    }

    /// The finished columns, as statement parameters.
    pub(crate) fn finish(self) -> Vec<Value> {
        self.columns.into_iter().map(ArrayLiteral::finish).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{ArrayLiteral, DataColumns};
    use sea_orm::Value;

    fn text(value: Value) -> String {
        match value {
            Value::String(Some(text)) => *text,
            other => panic!("not a text: {other:?}"),
        }
    }

    #[test]
    fn elements_are_quoted_escaped_and_null_is_unquoted() {
        let mut array = ArrayLiteral::with_capacity(0);
        array.push(Some(r#"a "quoted" \ back"#));
        array.push(None);
        array.push(Some("NULL"));
        array.push(Some(""));
        array.push_display(Some(1.5));
        array.push(Some(r#"é"ü\"#));
        let expected = r#"{"a \"quoted\" \\ back",NULL,"NULL","","1.5","é\"ü\\"}"#;
        assert_eq!(text(array.finish()), expected);
        let empty = ArrayLiteral::with_capacity(4);
        assert!(empty.is_empty());
        assert_eq!(text(empty.finish()), "{}");
    }

    #[test]
    fn data_columns_take_each_rows_values_in_column_order_and_count_them() {
        let mut columns = DataColumns::new(2, 2);
        columns.text(Some("a"));
        columns.display(Some(true));
        assert_eq!(columns.end_row(), 2);
        columns.text(None);
        columns.display(None::<bool>);
        columns.text(Some("one too many"));
        assert_eq!(columns.end_row(), 3);
        let texts: Vec<String> = columns.finish().into_iter().map(text).collect();
        assert_eq!(texts, [r#"{"a",NULL}"#, r#"{"true",NULL}"#]);
    }
}
