//! Matching a file's header line to the columns an upload expects, forgiving the
//! way users expect: case, surrounding spaces, a UTF-8 byte-order mark, spaces or
//! hyphens for underscores, and documented aliases.

use std::collections::HashMap;

/// One column an upload understands.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// The canonical name, as documented.
    pub name: &'static str,
    /// Other accepted names, already normalised (lowercase, underscores).
    pub aliases: &'static [&'static str],
    /// Whether the file must have this column.
    pub required: bool,
}

/// Where each known column is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnIndex {
    positions: HashMap<&'static str, usize>,
    /// Header names the upload does not understand (ignored, reported to the user).
    pub unknown: Vec<String>,
    /// Number of fields in the header line.
    pub width: usize,
}

impl ColumnIndex {
    /// The position of column `name`, if the file has it.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }
}

/// Why a header line cannot be used; each fails the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file has no header line at all.
    #[error("the file is empty; expected a header line naming the columns ({expected})")]
    Empty {
        /// The required columns, comma-separated.
        expected: String,
    },
    /// Required columns are absent.
    #[error("the header has no {missing} column{plural}; required columns are {expected} (found: {found})", plural = if missing.contains(',') { "s" } else { "" })]
    MissingColumns {
        /// The missing columns, comma-separated.
        missing: String,
        /// The required columns, comma-separated.
        expected: String,
        /// What the header contains.
        found: String,
    },
    /// The same column appears twice.
    #[error("the header names the {column} column twice (positions {first} and {second})")]
    Duplicate {
        /// The canonical column name.
        column: &'static str,
        /// 1-based position of the first occurrence.
        first: usize,
        /// 1-based position of the second occurrence.
        second: usize,
    },
}

/// Lowercases, trims, drops a byte-order mark and turns spaces and hyphens into underscores.
pub fn normalise(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

/// Resolves the header fields against `spec`.
pub fn resolve(fields: &[String], spec: &[ColumnSpec]) -> Result<ColumnIndex, HeaderError> {
    let required: Vec<&str> = spec.iter().filter(|c| c.required).map(|c| c.name).collect();
    if fields.is_empty() || fields.iter().all(|f| normalise(f).is_empty()) {
        return Err(HeaderError::Empty { expected: required.join(", ") });
    }
    let mut positions: HashMap<&'static str, usize> = HashMap::new();
    let mut unknown = Vec::new();
    for (position, field) in fields.iter().enumerate() {
        let name = normalise(field);
        let column = spec.iter().find(|c| c.name == name || c.aliases.contains(&name.as_str()));
        match column {
            Some(column) => {
                if let Some(first) = positions.insert(column.name, position) {
                    return Err(HeaderError::Duplicate {
                        column: column.name,
                        first: first + 1,
                        second: position + 1,
                    });
                }
            }
            None if name.is_empty() => {}
            None => unknown.push(field.trim().to_owned()),
        }
    }
    let missing: Vec<&str> =
        required.iter().copied().filter(|name| !positions.contains_key(name)).collect();
    if !missing.is_empty() {
        let found = fields.iter().map(|f| printable(f)).collect::<Vec<_>>().join(", ");
        return Err(HeaderError::MissingColumns {
            missing: missing.join(", "),
            expected: required.join(", "),
            found,
        });
    }
    Ok(ColumnIndex { positions, unknown, width: fields.len() })
}

/// A header field as it can be shown in a message: trimmed, control characters
/// replaced, long values cut.
fn printable(field: &str) -> String {
    let cleaned: String = field
        .trim_start_matches('\u{feff}')
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(40)
        .collect();
    format!("'{cleaned}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[ColumnSpec] = &[
        ColumnSpec { name: "sku", aliases: &["item_code"], required: true },
        ColumnSpec { name: "name", aliases: &["product_name"], required: true },
        ColumnSpec { name: "barcode", aliases: &["ean"], required: false },
    ];

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn matching_forgives_case_spaces_bom_and_aliases() {
        let index = resolve(&fields(&["\u{feff} SKU ", "Product Name", "EAN", "colour"]), SPEC)
            .expect("header resolves");
        assert_eq!(index.position("sku"), Some(0));
        assert_eq!(index.position("name"), Some(1));
        assert_eq!(index.position("barcode"), Some(2));
        assert_eq!(index.unknown, vec!["colour".to_owned()]);
        assert_eq!(index.width, 4);
    }

    #[test]
    fn a_missing_required_column_names_what_was_found() {
        let error = resolve(&fields(&["name", "price"]), SPEC).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the header has no sku column; required columns are sku, name (found: 'name', 'price')"
        );
    }

    #[test]
    fn several_missing_columns_are_all_named() {
        let error = resolve(&fields(&["{\"json\": true}"]), SPEC).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the header has no sku, name columns; required columns are sku, name (found: '{\"json\": true}')"
        );
    }

    #[test]
    fn an_empty_header_is_refused() {
        let error = resolve(&fields(&[""]), SPEC).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the file is empty; expected a header line naming the columns (sku, name)"
        );
    }

    #[test]
    fn a_column_given_twice_is_refused() {
        let error = resolve(&fields(&["sku", "name", "Item Code"]), SPEC).unwrap_err();
        assert_eq!(error.to_string(), "the header names the sku column twice (positions 1 and 3)");
    }
}
