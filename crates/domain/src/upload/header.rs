//! Matching a file's header line to the columns an upload expects, forgiving the
//! way spreadsheets and exported templates write names: case, spaces, underscores and
//! hyphens do not count (`CountryOfOrigin` = `country_of_origin` = `Country of
//! origin`), a UTF-8 byte-order mark is dropped, and documented aliases are accepted.
//! No column is dropped without saying so: unknown columns are reported, and a header
//! that is mostly unknown columns is refused.

use std::collections::HashMap;

/// One column an upload understands.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// The canonical name, as documented.
    pub name: &'static str,
    /// Other accepted names, as documented (matched like the name).
    pub aliases: &'static [&'static str],
    /// Whether the file must have this column.
    pub required: bool,
}

/// Where each known column is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnIndex {
    positions: HashMap<&'static str, usize>,
    /// Header names the upload does not understand, as written (ignored and reported).
    pub unknown: Vec<String>,
    /// Number of fields in the header line.
    pub width: usize,
}

impl ColumnIndex {
    /// The position of column `name`, if the file has it.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    /// What the job's log says of the unknown columns, e.g. "ignored columns: Colour,
    /// Supplier"; `None` when every column is known.
    pub fn ignored_columns_note(&self) -> Option<String> {
        const LISTED: usize = 20;
        let (first, rest) = self.unknown.split_at(self.unknown.len().min(LISTED));
        let shown: Vec<String> = first.iter().map(|name| printable(name, false)).collect();
        let more =
            if rest.is_empty() { String::new() } else { format!(" and {} more", rest.len()) };
        (!first.is_empty()).then(|| format!("ignored columns: {}{more}", shown.join(", ")))
    }
}

/// Unknown columns may be at most this many times the known ones; a header with more
/// is probably not a file of this upload's kind, and is refused.
const UNKNOWN_PER_KNOWN: usize = 2;

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
    /// Most columns are not columns of this upload.
    #[error(
        "{unknown} of the header's {total} columns are not columns of this upload ({found}); expected columns are {expected}. Rename the columns, or remove the ones that do not belong"
    )]
    MostlyUnknown {
        /// How many columns are unknown.
        unknown: usize,
        /// How many columns the header names.
        total: usize,
        /// The unknown columns, quoted and comma-separated.
        found: String,
        /// Every column the upload reads, comma-separated.
        expected: String,
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

/// The form names are compared in: lowercase, without a byte-order mark, whitespace,
/// underscores or hyphens (`Country_Of-Origin ` → `countryoforigin`).
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(|&c| !(c.is_whitespace() || matches!(c, '_' | '-' | '\u{feff}')))
        .flat_map(char::to_lowercase)
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
        let column = spec.iter().find(|column| {
            normalise(column.name) == name
                || column.aliases.iter().any(|alias| normalise(alias) == name)
        });
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
        let found = fields.iter().map(|f| printable(f, true)).collect::<Vec<_>>().join(", ");
        return Err(HeaderError::MissingColumns {
            missing: missing.join(", "),
            expected: required.join(", "),
            found,
        });
    }
    if unknown.len() > UNKNOWN_PER_KNOWN * positions.len() {
        let found = unknown.iter().take(20).map(|f| printable(f, true)).collect::<Vec<_>>();
        let more = unknown.len().saturating_sub(found.len());
        let found = if more > 0 {
            format!("{} and {more} more", found.join(", "))
        } else {
            found.join(", ")
        };
        return Err(HeaderError::MostlyUnknown {
            unknown: unknown.len(),
            total: positions.len() + unknown.len(),
            found,
            expected: spec.iter().map(|column| column.name).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(ColumnIndex { positions, unknown, width: fields.len() })
}

/// A header field as it can be shown in a message, `quoted` or not: trimmed, control
/// characters replaced, long values cut.
fn printable(field: &str, quoted: bool) -> String {
    let cleaned: String = field
        .trim_start_matches('\u{feff}')
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(40)
        .collect();
    if quoted { format!("'{cleaned}'") } else { cleaned }
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
    fn case_spaces_underscores_and_hyphens_do_not_count() {
        let spec = &[
            ColumnSpec { name: "sku", aliases: &[], required: true },
            ColumnSpec { name: "country_of_origin", aliases: &[], required: false },
            ColumnSpec { name: "hs_code", aliases: &["commodity_code"], required: false },
        ];
        for spelling in
            ["CountryOfOrigin", "country of origin", "COUNTRY-OF_ORIGIN", "Country Of-Origin"]
        {
            let index = resolve(&fields(&["SKU", spelling, "CommodityCode"]), spec)
                .unwrap_or_else(|error| panic!("{spelling}: {error}"));
            assert_eq!(index.position("country_of_origin"), Some(1), "{spelling}");
            assert_eq!(index.position("hs_code"), Some(2), "{spelling}");
            assert!(index.unknown.is_empty(), "{spelling}: {:?}", index.unknown);
        }
    }

    #[test]
    fn unknown_columns_are_named_in_the_note() {
        let index = resolve(&fields(&["sku", "name", "Colour", " Supplier "]), SPEC)
            .expect("header resolves");
        assert_eq!(
            index.ignored_columns_note().as_deref(),
            Some("ignored columns: Colour, Supplier")
        );
        let known = resolve(&fields(&["sku", "name"]), SPEC).expect("header resolves");
        assert_eq!(known.ignored_columns_note(), None);
    }

    #[test]
    fn a_header_of_mostly_unknown_columns_is_refused_naming_the_expected_ones() {
        let header = fields(&["sku", "name", "a", "b", "c", "d", "e"]);
        let error = resolve(&header, SPEC).unwrap_err();
        assert_eq!(
            error.to_string(),
            "5 of the header's 7 columns are not columns of this upload ('a', 'b', 'c', 'd', 'e'); \
             expected columns are sku, name, barcode. Rename the columns, or remove the ones that do not belong"
        );
        // Twice as many unknown columns as known ones is still accepted.
        assert!(resolve(&fields(&["sku", "name", "a", "b", "c", "d"]), SPEC).is_ok());
    }

    #[test]
    fn every_upload_s_names_and_aliases_stay_distinct_when_normalised() {
        for spec in [crate::upload::product::COLUMNS, crate::upload::location::COLUMNS] {
            let mut seen = std::collections::HashSet::new();
            for column in spec {
                for name in std::iter::once(&column.name).chain(column.aliases) {
                    assert!(seen.insert(normalise(name)), "{name} collides with another column");
                }
            }
        }
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
