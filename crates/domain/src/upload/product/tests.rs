use super::*;
use crate::upload::header::resolve;

const HEADER: &[&str] = &[
    "sku",
    "name",
    "description",
    "barcode",
    "weight_kg",
    "length_cm",
    "width_cm",
    "height_cm",
    "price",
    "hs_code",
    "country_of_origin",
];

fn index() -> ColumnIndex {
    let fields: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    resolve(&fields, COLUMNS).expect("header resolves")
}

/// A valid row with one column replaced.
fn row_with(column: &str, value: &str) -> Vec<String> {
    let valid = [
        "SKU-1",
        "Widget",
        "A fine widget",
        "4006381333931",
        "1.250",
        "10",
        "20.5",
        "3",
        "9.99",
        "8471.30",
        "de",
    ];
    HEADER
        .iter()
        .zip(valid)
        .map(|(h, v)| if *h == column { value.to_owned() } else { v.to_owned() })
        .collect()
}

fn parse_row(fields: &[String]) -> Result<Product, Rejection> {
    let raw: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
    parse(7, &raw, &index())
}

#[test]
fn a_valid_row_is_normalised() {
    let product = parse_row(&row_with("name", "  Widget  ")).expect("valid");
    assert_eq!(product.sku, "SKU-1");
    assert_eq!(product.name, "Widget");
    assert_eq!(product.hs_code.as_deref(), Some("847130"));
    assert_eq!(product.country_of_origin.as_deref(), Some("DE"));
    assert_eq!(product.weight_kg, Some(Decimal::new(125, 2)));
}

#[test]
fn optional_columns_may_be_empty_or_absent() {
    for column in &HEADER[2..] {
        assert!(parse_row(&row_with(column, "")).is_ok(), "{column} empty was rejected");
    }
    let index = resolve(&["sku".to_owned(), "name".to_owned()], COLUMNS).expect("header");
    let product = parse(1, &[b"A1", b"Thing"], &index).expect("valid");
    assert_eq!(product.barcode, None);
}

#[test]
fn every_rule_rejects_with_its_own_message() {
    let cases: &[(&str, &str, &str)] = &[
        ("sku", "", "sku: is required"),
        (
            "sku",
            "AB C",
            "sku: 'AB C' contains a space; SKUs may contain letters, digits, '-', '_' and '.'",
        ),
        (
            "sku",
            "AB/C",
            "sku: 'AB/C' contains '/'; SKUs may contain letters, digits, '-', '_' and '.'",
        ),
        (
            "sku",
            "AB\u{200B}C",
            "sku: 'AB\u{200B}C' contains U+200B ZERO WIDTH SPACE; SKUs may contain letters, digits, '-', '_' and '.'",
        ),
        ("sku", &"X".repeat(65), "sku: is 65 characters long; SKUs are at most 64"),
        ("name", "", "name: is required"),
        ("name", &"n".repeat(201), "name: is 201 characters long; the maximum is 200"),
        (
            "description",
            &"d".repeat(2001),
            "description: is 2001 characters long; the maximum is 2000",
        ),
        (
            "barcode",
            "12345",
            "barcode: '12345' is not an EAN-13, EAN-8 or UPC-A barcode (8, 12 or 13 digits)",
        ),
        (
            "barcode",
            "4006381333932",
            "barcode: '4006381333932' has check digit 2; for these digits it must be 1",
        ),
        (
            "weight_kg",
            "heavy",
            "weight_kg: 'heavy' is not a number; use digits with a '.' for decimals, e.g. 12.5",
        ),
        (
            "weight_kg",
            "100001",
            "weight_kg: 100001 is out of range; it must be between 0 and 100000",
        ),
        ("length_cm", "-2", "length_cm: -2 is out of range; it must be between 0 and 10000"),
        ("width_cm", "1.234", "width_cm: 1.234 has too many decimal places; at most 2"),
        ("height_cm", "10001", "height_cm: 10001 is out of range; it must be between 0 and 10000"),
        (
            "price",
            "1e3",
            "price: '1e3' is not a number; use digits with a '.' for decimals, e.g. 12.5",
        ),
        ("hs_code", "84A1", "hs_code: '84A1' is not an HS code; use 6 to 10 digits, e.g. 8471.30"),
        (
            "country_of_origin",
            "UK",
            "country_of_origin: 'UK' is not an ISO 3166-1 alpha-2 country code, e.g. DE, US, CN",
        ),
    ];
    for (column, value, message) in cases {
        let rejection = parse_row(&row_with(column, value))
            .map(|product| panic!("{column} = {value:?} was accepted as {product:?}"))
            .unwrap_err();
        assert_eq!(rejection.reason, *message, "{column} = {value:?}");
        assert_eq!(rejection.row, 7);
    }
}

#[test]
fn valid_barcodes_of_each_kind_pass() {
    for code in ["4006381333931", "96385074", "036000291452"] {
        assert_eq!(barcode(code.to_owned()), Ok(code.to_owned()));
    }
}

#[test]
fn a_rejection_names_the_key_and_every_problem() {
    let mut fields = row_with("name", "");
    fields[8] = "cheap".to_owned();
    let rejection = parse_row(&fields).expect_err("invalid");
    assert_eq!(rejection.key.as_deref(), Some("SKU-1"));
    assert_eq!(
        rejection.reason,
        "name: is required; price: 'cheap' is not a number; use digits with a '.' for decimals, e.g. 12.5"
    );
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_rejected() {
    let raw: Vec<&[u8]> = vec![b"SKU-9", b"Nine"];
    let rejection = parse(3, &raw, &index()).expect_err("short row");
    assert_eq!(rejection.reason, "the row has 2 fields; the header has 11");
}

#[test]
fn invalid_utf8_and_control_characters_name_the_column() {
    let mut fields: Vec<Vec<u8>> =
        row_with("sku", "S1").into_iter().map(String::into_bytes).collect();
    fields[1] = b"Caf\xe9".to_vec();
    fields[2] = b"line\x0bbreak".to_vec();
    let raw: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let rejection = parse(2, &raw, &index()).expect_err("bad text");
    assert_eq!(
        rejection.reason,
        "name: not valid UTF-8 at byte 4; save the file as UTF-8, or upload it again naming its encoding (e.g. windows-1252); description: contains U+000B LINE TABULATION at position 5; remove tabs, line breaks and other invisible characters"
    );
}
