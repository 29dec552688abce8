//! The corpus: every hostile file with the exact end it must reach.

/// Where a case's bytes come from.
pub enum Body {
    /// A file of `tests/hostile/`.
    File(&'static str),
    /// Made by the test, as it is too big to keep.
    Generated(fn() -> Vec<u8>),
}

/// Which upload a file is sent as.
#[derive(Debug, Clone, Copy)]
pub enum Upload {
    Products,
    Locations,
}

/// The end a file must reach.
pub enum Expected {
    /// Ingest refuses it: the HTTP status and the error's message; no job.
    Refused { status: u16, message: &'static str },
    /// The job ends in Error with this message.
    Failed(&'static str),
    /// The job completes with this message, and exactly these rows rejected (row, key
    /// as the results file shows it, reason).
    Completed { message: &'static str, rejected: &'static [(u64, &'static str, &'static str)] },
}

/// One file of the corpus.
pub struct Case {
    pub name: &'static str,
    pub body: Body,
    pub upload: Upload,
    /// Appended to the upload's URL, e.g. `&encoding=latin1`.
    pub query: &'static str,
    pub expected: Expected,
}

fn case(file: &'static str, upload: Upload, query: &'static str, expected: Expected) -> Case {
    Case { name: file, body: Body::File(file), upload, query, expected }
}

fn generated(
    name: &'static str,
    make: fn() -> Vec<u8>,
    upload: Upload,
    expected: Expected,
) -> Case {
    Case { name, body: Body::Generated(make), upload, query: "", expected }
}

/// Every file of the corpus, with its end.
pub fn all() -> Vec<Case> {
    vec![
        case(
            "zip-archive.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it is a ZIP archive, as Excel workbooks (.xlsx) are; save the sheet as CSV UTF-8 and upload that file",
            },
        ),
        case(
            "gzip-archive.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it contains NUL bytes, as binary files do; save it as CSV UTF-8 and upload it again",
            },
        ),
        case(
            "png-image.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it contains NUL bytes, as binary files do; save it as CSV UTF-8 and upload it again",
            },
        ),
        case(
            "elf-executable.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it contains NUL bytes, as binary files do; save it as CSV UTF-8 and upload it again",
            },
        ),
        case(
            "xls-workbook.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it is an Excel 97-2003 workbook (.xls); save the sheet as CSV UTF-8 and upload that file",
            },
        ),
        case(
            "pdf-document.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it is a PDF document; export the data as CSV UTF-8 from the program that made it and upload that file",
            },
        ),
        case(
            "utf16le-bom.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "utf16be-bom.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "utf16le-no-bom.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it looks like UTF-16LE text without a byte-order mark; upload it again with the encoding utf-16le, or save it as CSV UTF-8",
            },
        ),
        case(
            "utf16be-no-bom.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it looks like UTF-16BE text without a byte-order mark; upload it again with the encoding utf-16be, or save it as CSV UTF-8",
            },
        ),
        case(
            "latin1.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it is not UTF-8 text, and looks like windows-1252 (Excel on Windows saves CSV so); upload it again with the encoding windows-1252, or save it as CSV UTF-8",
            },
        ),
        case(
            "nul-byte.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 415,
                message: "the file is not a CSV text file: it contains NUL bytes, as binary files do; save it as CSV UTF-8 and upload it again",
            },
        ),
        case(
            "utf8-bom.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "1 of 1 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "bom-only.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "the file is empty; expected a header line naming the columns (sku, name)",
            ),
        ),
        case(
            "emoji-and-cjk.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "lone-quote.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "line 3 (row 2) opens a quoted field that is never closed, so the rest of the file was read as one field and not imported; of rows 1 to 1, 1 were imported and 0 rejected; nothing after them was imported",
            ),
        ),
        case(
            "unterminated-quote.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "line 3 (row 2) opens a quoted field that is never closed, so the rest of the file was read as one field and not imported; of rows 1 to 1, 1 were imported and 0 rejected; nothing after them was imported",
            ),
        ),
        case(
            "quote-inside-field.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "3 of 3 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "quoted-line-break.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "1 of 2 rows imported, 1 rejected",
                rejected: &[(
                    1,
                    "QL-1",
                    "name: contains U+000A LINE FEED at position 4; remove tabs, line breaks and other invisible characters",
                )],
            },
        ),
        case(
            "empty.csv",
            Upload::Products,
            "",
            Expected::Refused {
                status: 400,
                message: "the file is empty; upload a CSV file with a header row",
            },
        ),
        case(
            "header-only.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "the file has a header line but no rows under it; there is nothing to import",
            ),
        ),
        case(
            "header-only-crlf-blank-lines.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "the file has a header line but no rows under it; there is nothing to import",
            ),
        ),
        case(
            "duplicate-header.csv",
            Upload::Products,
            "",
            Expected::Failed("the header names the sku column twice (positions 1 and 3)"),
        ),
        case(
            "duplicate-header-alias.csv",
            Upload::Products,
            "",
            Expected::Failed("the header names the sku column twice (positions 1 and 3)"),
        ),
        case(
            "json.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "the header has no sku, name columns; required columns are sku, name (found: '{\"products\": [{\"sku\": \"J-1\"', '\"name\": \"Json\"}]}')",
            ),
        ),
        case(
            "html.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "the header has no sku, name columns; required columns are sku, name (found: '<!DOCTYPE html>')",
            ),
        ),
        case(
            "mostly-unknown-columns.csv",
            Upload::Products,
            "",
            Expected::Failed(
                "5 of the header's 7 columns are not columns of this upload ('a', 'b', 'c', 'd', 'e'); expected columns are sku, name, description, barcode, weight_kg, length_cm, width_cm, height_cm, price, hs_code, country_of_origin. Rename the columns, or remove the ones that do not belong",
            ),
        ),
        case(
            "extra-unknown-column.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "formula-cells.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "2 of 9 rows imported, 7 rejected",
                rejected: &[
                    (
                        1,
                        "'=1+1",
                        "sku: '=1+1' contains '='; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        2,
                        "'+cmd",
                        "sku: '+cmd' contains '+'; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        3,
                        "'-2+3",
                        "sku: '-2+3' contains '+'; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        4,
                        "'@SUM(A1)",
                        "sku: '@SUM(A1)' contains '@'; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        5,
                        "'=1+1",
                        "sku: '=1+1' contains '='; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        6,
                        "'=1+1",
                        "sku: '=1+1' contains '='; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        7,
                        "FX-7;'=cmd|' /C calc'!A0",
                        "sku: 'FX-7;'=cmd|' /C calc'!A0' contains ';'; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                ],
            },
        ),
        case(
            "bidi-and-zero-width.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "3 of 5 rows imported, 2 rejected",
                rejected: &[
                    (
                        1,
                        "BIDI-1\u{202e}",
                        "sku: 'BIDI-1<U+202E>' contains U+202E RIGHT-TO-LEFT OVERRIDE; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                    (
                        2,
                        "ZW\u{200b}-2",
                        "sku: 'ZW<U+200B>-2' contains U+200B ZERO WIDTH SPACE; SKUs may contain letters, digits, '-', '_' and '.'",
                    ),
                ],
            },
        ),
        case(
            "odd-numbers.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "3 of 8 rows imported, 5 rejected",
                rejected: &[
                    (
                        1,
                        "NUM-1",
                        "price: '1e309' is not a number; use digits with a '.' for decimals, e.g. 12.5",
                    ),
                    (
                        2,
                        "NUM-2",
                        "price: 'NaN' is not a number; use digits with a '.' for decimals, e.g. 12.5",
                    ),
                    (
                        4,
                        "NUM-4",
                        "price: '1,000.5' is not a number; use digits with a '.' for decimals, e.g. 12.5",
                    ),
                    (
                        5,
                        "NUM-5",
                        "price: 'inf' is not a number; use digits with a '.' for decimals, e.g. 12.5",
                    ),
                    (
                        7,
                        "NUM-7",
                        "price: '0x10' is not a number; use digits with a '.' for decimals, e.g. 12.5",
                    ),
                ],
            },
        ),
        case(
            "crlf.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "cr-only.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "no-final-newline.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "blank-lines.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "trailing-commas.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "1 of 3 rows imported, 2 rejected",
                rejected: &[
                    (1, "TC-1", "the row has 4 fields; the header has 3"),
                    (2, "TC-2", "the row has 5 fields; the header has 3"),
                ],
            },
        ),
        case(
            "missing-fields.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "1 of 3 rows imported, 2 rejected",
                rejected: &[
                    (1, "MF-1", "the row has 2 fields; the header has 3"),
                    (2, "MF-2", "the row has 1 field; the header has 3; name: is required"),
                ],
            },
        ),
        case(
            "whitespace-line.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "2 of 3 rows imported, 1 rejected",
                rejected: &[(
                    2,
                    "",
                    "the row has 1 field; the header has 3; sku: is required; name: is required",
                )],
            },
        ),
        case(
            "semicolons.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "tabs.csv",
            Upload::Products,
            "",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "long-key.csv",
            Upload::Products,
            "",
            Expected::Completed {
                message: "1 of 2 rows imported, 1 rejected",
                rejected: &[(
                    1,
                    "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK…",
                    "sku: is 300 characters long; SKUs are at most 64",
                )],
            },
        ),
        case(
            "utf16le-no-bom-named.csv",
            Upload::Products,
            "&encoding=utf-16le",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "latin1-named.csv",
            Upload::Products,
            "&encoding=latin1",
            Expected::Completed { message: "2 of 2 rows imported, 0 rejected", rejected: &[] },
        ),
        case(
            "locations-formula-cells.csv",
            Upload::Locations,
            "",
            Expected::Completed {
                message: "1 of 5 rows imported, 4 rejected",
                rejected: &[
                    (
                        1,
                        "'=A-1",
                        "location_code: '=A-1' contains '='; location codes may contain letters, digits, '-' and '.'",
                    ),
                    (
                        2,
                        "'+A-2",
                        "location_code: '+A-2' contains '+'; location codes may contain letters, digits, '-' and '.'",
                    ),
                    (
                        3,
                        "'@A-3",
                        "location_code: '@A-3' contains '@'; location codes may contain letters, digits, '-' and '.'",
                    ),
                    (
                        4,
                        "A-4",
                        "warehouse: 'WH1;'=cmd|' /C calc'!A0' does not exist in this account",
                    ),
                ],
            },
        ),
        case(
            "locations-odd-numbers.csv",
            Upload::Locations,
            "",
            Expected::Completed {
                message: "2 of 6 rows imported, 4 rejected",
                rejected: &[
                    (
                        1,
                        "N-1",
                        "capacity: '1e309' is not a whole number; use digits only, e.g. 250",
                    ),
                    (2, "N-2", "capacity: 'NaN' is not a whole number; use digits only, e.g. 250"),
                    (
                        4,
                        "N-4",
                        "capacity: '1,000' is not a whole number; use digits only, e.g. 250",
                    ),
                    (5, "N-5", "capacity: 'inf' is not a whole number; use digits only, e.g. 250"),
                ],
            },
        ),
        case(
            "locations-utf16le-bom.csv",
            Upload::Locations,
            "",
            Expected::Completed {
                message: "0 of 1 rows imported, 1 rejected",
                rejected: &[(
                    1,
                    "U-1",
                    "zone: 'Zöne' contains 'ö'; use letters, digits, '-', '_' and '.'",
                )],
            },
        ),
        case(
            "locations-duplicate-header.csv",
            Upload::Locations,
            "",
            Expected::Failed("the header names the location_code column twice (positions 2 and 3)"),
        ),
        case(
            "locations-unterminated-quote.csv",
            Upload::Locations,
            "",
            Expected::Failed(
                "line 3 (row 2) opens a quoted field that is never closed, so the rest of the file was read as one field and not imported; of rows 1 to 1, 1 were imported and 0 rejected; nothing after them was imported",
            ),
        ),
        case(
            "locations-bidi.csv",
            Upload::Locations,
            "",
            Expected::Completed {
                message: "1 of 3 rows imported, 2 rejected",
                rejected: &[
                    (
                        1,
                        "B\u{202e}-1",
                        "location_code: 'B<U+202E>-1' contains U+202E RIGHT-TO-LEFT OVERRIDE; location codes may contain letters, digits, '-' and '.'",
                    ),
                    (2, "B-2", "warehouse: 'WH1<U+200B>' does not exist in this account"),
                ],
            },
        ),
        case(
            "locations-latin1-named.csv",
            Upload::Locations,
            "&encoding=iso-8859-1",
            Expected::Completed {
                message: "0 of 1 rows imported, 1 rejected",
                rejected: &[(
                    1,
                    "LT-1",
                    "zone: 'Zöne' contains 'ö'; use letters, digits, '-', '_' and '.'",
                )],
            },
        ),
        generated(
            "huge_unquoted_row",
            huge_unquoted_row,
            Upload::Products,
            Expected::Completed {
                message: "2 of 3 rows imported, 1 rejected",
                rejected: &[(
                    2,
                    "",
                    "the row is longer than 1 MiB, the most a row may hold; it was not read further",
                )],
            },
        ),
        generated(
            "huge_row_in_open_quote",
            huge_row_in_open_quote,
            Upload::Products,
            Expected::Failed(
                "line 3 (row 2) is longer than 1 MiB, the most a row may hold, inside a quoted field opened on line 3 that is still open: the quote is probably never closed, so the rest of the file was not read; of rows 1 to 1, 1 were imported and 0 rejected; nothing after them was imported",
            ),
        ),
        generated(
            "hundred_thousand_columns",
            hundred_thousand_columns,
            Upload::Products,
            Expected::Completed {
                message: "2 of 3 rows imported, 1 rejected",
                rejected: &[(
                    2,
                    "",
                    "the row has more than 1,000 fields, the most a row may have; the header has 3",
                )],
            },
        ),
        generated(
            "hundred_thousand_column_header",
            hundred_thousand_column_header,
            Upload::Products,
            Expected::Failed(
                "the first line is longer than 64 KiB; the file does not look like CSV with a header line",
            ),
        ),
        generated(
            "late_bad_utf8",
            late_bad_utf8,
            Upload::Products,
            Expected::Completed {
                message: "81,515 of 81,516 rows imported, 1 rejected",
                rejected: &[(
                    81515,
                    "LATE-BAD",
                    "name: not valid UTF-8 at byte 4; save the file as UTF-8, or upload it again naming its encoding (e.g. windows-1252)",
                )],
            },
        ),
        generated(
            "long_field",
            long_field,
            Upload::Products,
            Expected::Completed {
                message: "1 of 2 rows imported, 1 rejected",
                rejected: &[(
                    1,
                    "",
                    "field 2 is 70,000 bytes long; a field may hold at most 64 KiB",
                )],
            },
        ),
        generated(
            "over_the_upload_limit",
            over_the_upload_limit,
            Upload::Products,
            Expected::Refused { status: 413, message: "the file is larger than the 16 MiB limit" },
        ),
        generated(
            "locations_huge_row_in_open_quote",
            locations_huge_row_in_open_quote,
            Upload::Locations,
            Expected::Failed(
                "line 3 (row 2) is longer than 1 MiB, the most a row may hold, inside a quoted field opened on line 3 that is still open: the quote is probably never closed, so the rest of the file was not read; of rows 1 to 1, 1 were imported and 0 rejected; nothing after them was imported",
            ),
        ),
    ]
}

/// 3 MiB of `x`: three times the row limit.
fn filler() -> String {
    "x".repeat(3 << 20)
}

/// A product row of 3 MiB without quotes between two good rows.
fn huge_unquoted_row() -> Vec<u8> {
    format!("sku,name,price\nHU-1,One,1.00\nHU-2,{},2.00\nHU-3,Three,3.00\n", filler()).into_bytes()
}

/// A quote opened in the second row, never closed, with 3 MiB after it.
fn huge_row_in_open_quote() -> Vec<u8> {
    format!("sku,name,price\nHQ-1,One,1.00\nHQ-2,\"{}\nHQ-3,Three,3.00\n", filler()).into_bytes()
}

/// A row of 100,000 fields between two good rows.
fn hundred_thousand_columns() -> Vec<u8> {
    format!("sku,name,price\nHC-1,One,1.00\nHC-2{}\nHC-3,Three,3.00\n", ",1".repeat(99_999))
        .into_bytes()
}

/// A header line of 100,000 columns.
fn hundred_thousand_column_header() -> Vec<u8> {
    format!("sku,name{}\nHH-1,One\n", ",x".repeat(99_998)).into_bytes()
}

/// A quoted name of 70,000 bytes: over the field limit, under the row limit.
fn long_field() -> Vec<u8> {
    format!("sku,name,price\nLF-1,\"{}\",1.00\nLF-2,Two,2.00\n", "n".repeat(70_000)).into_bytes()
}

/// Good rows for 2 MiB, past what ingest inspects, then a name in Windows-1252.
fn late_bad_utf8() -> Vec<u8> {
    let mut body = b"sku,name,price\n".to_vec();
    let mut row = 0;
    while body.len() < 2 << 20 {
        row += 1;
        body.extend_from_slice(format!("LATE-{row},Row {row},1.00\n").as_bytes());
    }
    body.extend_from_slice(b"LATE-BAD,Caf\xe9,1.00\nLATE-LAST,Fine,1.00\n");
    body
}

/// A body of 17 MiB, over the system's 16 MiB upload limit.
fn over_the_upload_limit() -> Vec<u8> {
    let mut body = b"sku,name,price\n".to_vec();
    body.resize(17 << 20, b'x');
    body
}

/// A location row whose quote never closes, with 3 MiB after it.
fn locations_huge_row_in_open_quote() -> Vec<u8> {
    format!("warehouse,location_code\nWH1,HQ-1\nWH1,\"{}\nWH1,HQ-3\n", filler()).into_bytes()
}
