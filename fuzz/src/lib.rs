//! What the fuzz targets share: an upload file read through the consumers' reader
//! with a row parser, and the invariants every such read must keep.

use std::sync::OnceLock;

use bgjobs_domain::upload::Rejection;
use bgjobs_domain::upload::header::{ColumnIndex, ColumnSpec};
use bgjobs_domain::upload::results::{HEADER, key_cell, reason_cell};
use bgjobs_upload::reader::{self, Encoding, FileFormat, Limits, Parsed};

/// Characters a spreadsheet runs as the start of a formula, and those at which it may
/// start a new cell (as `bgjobs_domain::upload::results::safe_cell` promises).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
const CELL_BREAKS: [char; 5] = [',', ';', '\t', '\r', '\n'];

/// Small limits, so that a fuzzer's short inputs reach the row, field and column checks.
const SMALL_LIMITS: Limits = Limits { row_bytes: 96, field_bytes: 24, columns: 6 };

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime")
    })
}

/// How a fuzz input is read: its first byte chooses the encoding named, the limits and
/// the chunk size; the rest is the file.
fn format_of<'a>(data: &'a [u8], columns: &'static [ColumnSpec]) -> (FileFormat, usize, &'a [u8]) {
    let (&choice, file) = data.split_first().unwrap_or((&0, &[]));
    let encoding: Option<&'static Encoding> = match choice & 0b11 {
        0 => None,
        1 => Some(encoding_rs_name("windows-1252")),
        2 => Some(encoding_rs_name("utf-16le")),
        _ => Some(encoding_rs_name("shift_jis")),
    };
    let limits = if choice & 0b100 == 0 { Limits::DEFAULT } else { SMALL_LIMITS };
    let chunk_rows = usize::from(choice >> 3) % 4 + 1;
    (FileFormat { columns, encoding, limits }, chunk_rows, file)
}

fn encoding_rs_name(label: &str) -> &'static Encoding {
    Encoding::for_label(label.as_bytes()).expect("a known encoding")
}

/// Reads `data` as an upload file of `columns` through the consumers' reader, each row
/// through `parse_row`, and checks what came out:
/// - the reader hands over one header then rows then one end, or one refusal, and
///   never a storage failure (the bytes are in memory);
/// - rows are numbered 1, 2, 3... in chunks of at most the chunk size;
/// - the row parser never sees a row beyond the limits (fields, bytes of a field,
///   bytes of the row): the reader bounds what it holds before a row is parsed;
/// - a rejected row names its own row and says why;
/// - every key and reason written to the results file is a safe cell, and the results
///   line reads back as written.
///
/// Returns the keys of the valid rows.
pub fn read_upload<T: Send + 'static>(
    data: &[u8],
    columns: &'static [ColumnSpec],
    mut parse_row: impl FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<T, Rejection> + Send + 'static,
    key: impl Fn(&T) -> String,
) -> Vec<String> {
    let (format, chunk_rows, file) = format_of(data, columns);
    let limits = format.limits;
    let checked_parser = move |row: u64, fields: &[&[u8]], index: &ColumnIndex| {
        assert!(fields.len() as u64 <= limits.columns, "row {row}: {} fields", fields.len());
        let row_bytes: usize = fields.iter().map(|field| field.len()).sum();
        assert!(row_bytes as u64 <= limits.row_bytes, "row {row}: {row_bytes} bytes");
        for field in fields {
            assert!(field.len() as u64 <= limits.field_bytes, "row {row}: field too long");
        }
        parse_row(row, fields, index)
    };
    let source = Box::new(std::io::Cursor::new(file.to_vec()));
    let all: Vec<Parsed<T>> = runtime().block_on(async move {
        let mut receiver = reader::spawn(source, format, chunk_rows, checked_parser);
        let mut all = Vec::new();
        while let Some(parsed) = receiver.recv().await {
            all.push(parsed);
        }
        all
    });

    let mut results =
        csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    results.write_record(HEADER).expect("the header line");
    let mut keys = Vec::new();
    let mut next_row = 1;
    let mut header_seen = false;
    let mut ended = false;
    for parsed in all {
        assert!(!ended, "something handed over after the end");
        match parsed {
            Parsed::Header(index) => {
                assert!(!header_seen && next_row == 1, "a second header");
                assert!(index.width as u64 <= limits.columns, "header of {} columns", index.width);
                header_seen = true;
            }
            Parsed::Rows(rows) => {
                assert!(header_seen, "rows before the header");
                assert!(!rows.is_empty() && rows.len() <= chunk_rows, "chunk of {}", rows.len());
                for (row, result) in rows {
                    assert_eq!(row, next_row, "rows out of order");
                    next_row += 1;
                    let (key, outcome, reason) = match result {
                        Ok(value) => (key(&value), "applied", String::new()),
                        Err(rejection) => {
                            assert_eq!(rejection.row, row, "a rejection naming another row");
                            assert!(!rejection.reason.trim().is_empty(), "row {row}: no reason");
                            (rejection.key.unwrap_or_default(), "rejected", rejection.reason)
                        }
                    };
                    let key_cell = key_cell(&key);
                    let reason_cell = reason_cell(&reason);
                    assert_safe(&key_cell);
                    assert_safe(&reason_cell);
                    let line = [row.to_string(), key_cell, outcome.to_owned(), reason_cell];
                    results.write_record(&line).expect("a results line");
                    if outcome == "applied" {
                        keys.push(key);
                    }
                }
            }
            Parsed::End => {
                assert!(header_seen, "the end without a header");
                ended = true;
            }
            Parsed::Unreadable(message) | Parsed::CutShort(message) => {
                assert!(!message.trim().is_empty(), "a refusal without a reason");
                ended = true;
            }
            Parsed::Broken(message) => panic!("a storage failure reading memory: {message}"),
        }
    }
    assert!(ended, "the reader stopped without saying why");
    assert_results_read_back(&results.into_inner().expect("the results file"), next_row - 1);
    keys
}

/// Wherever a spreadsheet could start a cell in `cell`, what follows (past spaces and
/// quotes) is not a formula.
fn assert_safe(cell: &str) {
    let starts = std::iter::once(0).chain(
        cell.char_indices()
            .filter(|(_, character)| CELL_BREAKS.contains(character))
            .map(|(at, character)| at + character.len_utf8()),
    );
    for start in starts {
        let rest = cell[start..].trim_start_matches([' ', '"']);
        assert!(!rest.starts_with(FORMULA_STARTS), "a formula in the results: {cell:?}");
    }
}

/// The results file reads back as one header and one line of four cells per row.
fn assert_results_read_back(file: &[u8], rows: u64) {
    let mut lines = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let mut count = 0;
    for record in lines.records() {
        let record = record.expect("a results line reads back");
        assert_eq!(record.len(), 4, "a results line of {} cells", record.len());
        count += 1;
        assert_eq!(record.get(0), Some(count.to_string().as_str()), "the row number");
    }
    assert_eq!(count, rows, "results lines");
}
