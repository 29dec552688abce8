//! Product Upload rows: the columns, their rules and the messages users see.
//! The reference for users is `docs/upload-formats.md`.

use rust_decimal::Decimal;

use super::Rejection;
use super::characters::describe;
use super::country::is_iso_alpha2;
use super::fields::{bounded, decimal, multiline_text, text, width_problem};
use super::header::{ColumnIndex, ColumnSpec};

/// The columns of a product file.
pub const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec {
        name: "sku",
        aliases: &["item_code", "product_code", "article_number"],
        required: true,
    },
    ColumnSpec { name: "name", aliases: &["product_name", "title"], required: true },
    ColumnSpec { name: "description", aliases: &[], required: false },
    ColumnSpec { name: "barcode", aliases: &["ean", "gtin", "upc"], required: false },
    ColumnSpec { name: "weight_kg", aliases: &["weight"], required: false },
    ColumnSpec { name: "length_cm", aliases: &["length"], required: false },
    ColumnSpec { name: "width_cm", aliases: &["width"], required: false },
    ColumnSpec { name: "height_cm", aliases: &["height"], required: false },
    ColumnSpec { name: "price", aliases: &["unit_price"], required: false },
    ColumnSpec { name: "hs_code", aliases: &["commodity_code", "hs"], required: false },
    ColumnSpec { name: "country_of_origin", aliases: &["origin", "country"], required: false },
];

/// Longest SKU accepted.
pub const SKU_MAX_CHARS: usize = 64;

/// A valid product row, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Stock keeping unit: unique per client.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// EAN-13, EAN-8 or UPC-A, check digit verified.
    pub barcode: Option<String>,
    /// Kilograms, 0 to 100,000, up to 3 decimals.
    pub weight_kg: Option<Decimal>,
    /// Centimetres, 0 to 10,000, up to 2 decimals.
    pub length_cm: Option<Decimal>,
    /// Centimetres, 0 to 10,000, up to 2 decimals.
    pub width_cm: Option<Decimal>,
    /// Centimetres, 0 to 10,000, up to 2 decimals.
    pub height_cm: Option<Decimal>,
    /// Unit price, 0 to 1,000,000,000, up to 2 decimals.
    pub price: Option<Decimal>,
    /// Harmonized System commodity code: 6 to 10 digits, dots removed.
    pub hs_code: Option<String>,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country_of_origin: Option<String>,
}

/// Parses data row `row` (1-based) given the raw fields and the resolved header.
/// Every problem of the row is reported, separated by "; ".
pub fn parse(row: u64, fields: &[&[u8]], index: &ColumnIndex) -> Result<Product, Rejection> {
    let raw = |column: &str| index.position(column).and_then(|p| fields.get(p)).copied();
    let mut problems = Vec::new();
    let mut unreadable = Vec::new();
    let mut field = |column: &'static str| -> Option<String> {
        // Only the description may span lines.
        let read = if column == "description" { multiline_text } else { text };
        match raw(column).map(|bytes| read(bytes, column)).unwrap_or(Ok(None)) {
            Ok(value) => value,
            Err(problem) => {
                problems.push(problem);
                unreadable.push(column);
                None
            }
        }
    };
    let sku_text = field("sku");
    let name_text = field("name");
    let description_text = field("description");
    let barcode_text = field("barcode");
    let numbers = ["weight_kg", "length_cm", "width_cm", "height_cm", "price"].map(&mut field);
    let hs_text = field("hs_code");
    let country_text = field("country_of_origin");

    if let Some(problem) = width_problem(fields.len(), index.width) {
        problems.insert(0, problem);
    }
    // A required column that could not be read is already reported as unreadable.
    let required = |value: Option<String>, column: &'static str| match value {
        Some(value) => Ok(Some(value)),
        None if unreadable.contains(&column) => Ok(None),
        None => Err(format!("{column}: is required")),
    };
    let sku = check(
        &mut problems,
        required(sku_text.clone(), "sku").and_then(|s| s.map(sku).transpose()),
    );
    let name = check(
        &mut problems,
        required(name_text, "name").and_then(|name| bounded(name, "name", 200)),
    );
    let description = check(&mut problems, bounded(description_text, "description", 2000));
    let barcode = check(&mut problems, barcode_text.map(barcode).transpose());
    let [weight, length, width, height, price] = numbers;
    let size_limit = Decimal::from(10_000);
    let weight_kg = check(
        &mut problems,
        decimal(weight.as_deref(), "weight_kg", Decimal::ZERO, Decimal::from(100_000), 3),
    );
    let length_cm =
        check(&mut problems, decimal(length.as_deref(), "length_cm", Decimal::ZERO, size_limit, 2));
    let width_cm =
        check(&mut problems, decimal(width.as_deref(), "width_cm", Decimal::ZERO, size_limit, 2));
    let height_cm =
        check(&mut problems, decimal(height.as_deref(), "height_cm", Decimal::ZERO, size_limit, 2));
    let price = check(
        &mut problems,
        decimal(price.as_deref(), "price", Decimal::ZERO, Decimal::from(1_000_000_000), 2),
    );
    let hs_code = check(&mut problems, hs_text.map(hs_code).transpose());
    let country_of_origin = check(&mut problems, country_text.map(country).transpose());

    match (sku, name) {
        (Some(Some(sku)), Some(Some(name))) if problems.is_empty() => Ok(Product {
            sku,
            name,
            description: description.flatten(),
            barcode: barcode.flatten(),
            weight_kg: weight_kg.flatten(),
            length_cm: length_cm.flatten(),
            width_cm: width_cm.flatten(),
            height_cm: height_cm.flatten(),
            price: price.flatten(),
            hs_code: hs_code.flatten(),
            country_of_origin: country_of_origin.flatten(),
        }),
        _ => Err(Rejection { row, key: sku_text, reason: problems.join("; ") }),
    }
}

fn check<T>(problems: &mut Vec<String>, result: Result<T, String>) -> Option<T> {
    result.map_err(|problem| problems.push(problem)).ok()
}

/// SKU rule: 1 to 64 letters, digits, '-', '_' or '.'.
pub fn sku(sku: String) -> Result<String, String> {
    let length = sku.chars().count();
    if length > SKU_MAX_CHARS {
        return Err(format!("sku: is {length} characters long; SKUs are at most {SKU_MAX_CHARS}"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if let Some(bad) = sku.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "sku: '{sku}' contains {}; SKUs may contain letters, digits, '-', '_' and '.'",
            describe(bad)
        ));
    }
    Ok(sku)
}

/// Barcode rule: EAN-8, UPC-A (12) or EAN-13 digits with a valid GS1 check digit.
pub fn barcode(code: String) -> Result<String, String> {
    if !code.chars().all(|c| c.is_ascii_digit()) || ![8, 12, 13].contains(&code.len()) {
        return Err(format!(
            "barcode: '{code}' is not an EAN-13, EAN-8 or UPC-A barcode (8, 12 or 13 digits)"
        ));
    }
    let digits: Vec<u32> = code.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, check_digit) = digits.split_at(digits.len() - 1);
    let weighted: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| if position.is_multiple_of(2) { digit * 3 } else { *digit })
        .sum();
    let expected = (10 - weighted % 10) % 10;
    if expected != check_digit[0] {
        return Err(format!(
            "barcode: '{code}' has check digit {}; for these digits it must be {expected}",
            check_digit[0]
        ));
    }
    Ok(code)
}

/// HS code rule: 6 to 10 digits; dots and spaces are accepted and removed.
pub fn hs_code(code: String) -> Result<String, String> {
    let digits: String = code.chars().filter(|c| *c != '.' && *c != ' ').collect();
    if digits.chars().all(|c| c.is_ascii_digit()) && (6..=10).contains(&digits.len()) {
        Ok(digits)
    } else {
        Err(format!("hs_code: '{code}' is not an HS code; use 6 to 10 digits, e.g. 8471.30"))
    }
}

/// Country rule: an ISO 3166-1 alpha-2 code, any case.
pub fn country(code: String) -> Result<String, String> {
    let upper = code.to_ascii_uppercase();
    if is_iso_alpha2(&upper) {
        Ok(upper)
    } else {
        Err(format!(
            "country_of_origin: '{code}' is not an ISO 3166-1 alpha-2 country code, e.g. DE, US, CN"
        ))
    }
}

#[cfg(test)]
mod tests;
