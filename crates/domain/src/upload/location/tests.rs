use super::*;
use crate::upload::header::resolve;

const HEADER: &[&str] = &[
    "warehouse",
    "location_code",
    "zone",
    "aisle",
    "bay",
    "level",
    "location_type",
    "pickable",
    "capacity",
];

fn index() -> ColumnIndex {
    let fields: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    resolve(&fields, COLUMNS).expect("header resolves")
}

/// Only WH1 and WH2 exist in the account.
fn exists(warehouse: &str) -> bool {
    matches!(warehouse, "WH1" | "WH2")
}

/// A valid row with one column replaced.
fn row_with(column: &str, value: &str) -> Vec<String> {
    let valid = ["WH1", "a-01-02.3", "Z1", "01", "02", "3", "Pick", "yes", "250"];
    HEADER
        .iter()
        .zip(valid)
        .map(|(h, v)| if *h == column { value.to_owned() } else { v.to_owned() })
        .collect()
}

fn parse_row(fields: &[String]) -> Result<Location, Rejection> {
    let raw: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
    parse(7, &raw, &index(), exists)
}

#[test]
fn a_valid_row_is_normalised() {
    let location = parse_row(&row_with("zone", "  Z1  ")).expect("valid");
    assert_eq!(
        location,
        Location {
            warehouse_id: "WH1".to_owned(),
            location_code: "A-01-02.3".to_owned(),
            zone: Some("Z1".to_owned()),
            aisle: Some("01".to_owned()),
            bay: Some("02".to_owned()),
            level: Some("3".to_owned()),
            location_type: Some(LocationType::Pick),
            pickable: Some(true),
            capacity: Some(250),
        }
    );
}

#[test]
fn optional_columns_may_be_empty_or_absent() {
    for column in &HEADER[2..] {
        assert!(parse_row(&row_with(column, "")).is_ok(), "{column} empty was rejected");
    }
    let index = resolve(&["Warehouse Ref".to_owned(), "Bin".to_owned()], COLUMNS).expect("header");
    let location = parse(1, &[b"WH2", b"B-1"], &index, exists).expect("valid");
    assert_eq!((location.warehouse_id.as_str(), location.location_code.as_str()), ("WH2", "B-1"));
    assert_eq!(location.capacity, None);
}

#[test]
fn every_accepted_spelling_of_the_enumerated_columns_is_read() {
    let types = [("pick", LocationType::Pick), ("BULK", LocationType::Bulk)];
    let more = [("Reserve", LocationType::Reserve), ("staging", LocationType::Staging)];
    for (text, expected) in types.into_iter().chain(more).chain([("dock", LocationType::Dock)]) {
        let location = parse_row(&row_with("location_type", text)).expect("valid type");
        assert_eq!(location.location_type, Some(expected), "{text}");
    }
    let flags = [("true", true), ("Yes", true), ("1", true), ("FALSE", false), ("no", false)];
    for (text, expected) in flags.into_iter().chain([("0", false)]) {
        let location = parse_row(&row_with("pickable", text)).expect("valid flag");
        assert_eq!(location.pickable, Some(expected), "{text}");
    }
    for (text, expected) in [("0", 0), ("1000000", 1_000_000)] {
        let location = parse_row(&row_with("capacity", text)).expect("valid capacity");
        assert_eq!(location.capacity, Some(expected), "{text}");
    }
    let long_code = "A".repeat(32);
    assert!(parse_row(&row_with("location_code", &long_code)).is_ok());
    assert!(parse_row(&row_with("zone", &"z".repeat(16))).is_ok());
}

#[test]
fn every_rule_rejects_with_its_own_message() {
    let cases: &[(&str, &str, &str)] = &[
        ("warehouse", "", "warehouse: is required"),
        ("warehouse", "WH9", "warehouse: 'WH9' does not exist in this account"),
        ("warehouse", &"W".repeat(65), "warehouse: is 65 characters long; the maximum is 64"),
        ("location_code", "", "location_code: is required"),
        (
            "location_code",
            "A 01",
            "location_code: 'A 01' contains a space; location codes may contain letters, digits, '-' and '.'",
        ),
        (
            "location_code",
            "A_01",
            "location_code: 'A_01' contains '_'; location codes may contain letters, digits, '-' and '.'",
        ),
        (
            "location_code",
            "Ä-01",
            "location_code: 'Ä-01' contains 'Ä'; location codes may contain letters, digits, '-' and '.'",
        ),
        (
            "location_code",
            &"A".repeat(33),
            "location_code: is 33 characters long; location codes are at most 32",
        ),
        ("zone", &"Z".repeat(17), "zone: is 17 characters long; the maximum is 16"),
        ("aisle", "A 1", "aisle: 'A 1' contains a space; use letters, digits, '-', '_' and '.'"),
        ("bay", "B/2", "bay: 'B/2' contains '/'; use letters, digits, '-', '_' and '.'"),
        ("level", &"9".repeat(17), "level: is 17 characters long; the maximum is 16"),
        (
            "location_type",
            "shelf",
            "location_type: 'shelf' is not a location type; use pick, bulk, reserve, staging or dock",
        ),
        (
            "pickable",
            "maybe",
            "pickable: 'maybe' is not true or false; use true/false, yes/no or 1/0",
        ),
        ("capacity", "12.5", "capacity: '12.5' is not a whole number; use digits only, e.g. 250"),
        ("capacity", "lots", "capacity: 'lots' is not a whole number; use digits only, e.g. 250"),
        ("capacity", "-1", "capacity: -1 is out of range; it must be between 0 and 1000000"),
        (
            "capacity",
            "1000001",
            "capacity: 1000001 is out of range; it must be between 0 and 1000000",
        ),
        (
            "capacity",
            "99999999999999999999",
            "capacity: 99999999999999999999 is out of range; it must be between 0 and 1000000",
        ),
    ];
    for (column, value, message) in cases {
        let rejection = parse_row(&row_with(column, value))
            .map(|location| panic!("{column} = {value:?} was accepted as {location:?}"))
            .unwrap_err();
        assert_eq!(rejection.reason, *message, "{column} = {value:?}");
        assert_eq!(rejection.row, 7);
    }
}

#[test]
fn a_rejection_names_the_location_code_and_every_problem() {
    let mut fields = row_with("warehouse", "WH-OTHER");
    fields[8] = "many".to_owned();
    let rejection = parse_row(&fields).expect_err("invalid");
    assert_eq!(rejection.key.as_deref(), Some("a-01-02.3"));
    assert_eq!(
        rejection.reason,
        "warehouse: 'WH-OTHER' does not exist in this account; capacity: 'many' is not a whole number; use digits only, e.g. 250"
    );
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_rejected() {
    let raw: Vec<&[u8]> = vec![b"WH1", b"A-1"];
    let rejection = parse(3, &raw, &index(), exists).expect_err("short row");
    assert_eq!(rejection.reason, "the row has 2 fields; the header has 9");
}

#[test]
fn invalid_utf8_and_control_characters_name_the_column() {
    let mut fields: Vec<Vec<u8>> =
        row_with("zone", "Z").into_iter().map(String::into_bytes).collect();
    fields[1] = b"A\xe9".to_vec();
    fields[3] = b"1\x0b2".to_vec();
    let raw: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let rejection = parse(2, &raw, &index(), exists).expect_err("bad text");
    assert_eq!(
        rejection.reason,
        "location_code: not valid UTF-8 at byte 2; save the file as UTF-8, or upload it again naming its encoding (e.g. windows-1252); aisle: contains U+000B LINE TABULATION at position 2; remove tabs, line breaks and other invisible characters"
    );
}
