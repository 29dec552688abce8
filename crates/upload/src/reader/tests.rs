use bgjobs_domain::upload::header::ColumnSpec;

use super::*;

const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec { name: "code", aliases: &["id"], required: true },
    ColumnSpec { name: "label", aliases: &[], required: false },
];

const LIMITS: Limits = Limits { row_bytes: 1 << 20, field_bytes: 64 << 10, columns: 100 };

const FORMAT: FileFormat = FileFormat { columns: COLUMNS, encoding: None, limits: LIMITS };

/// Parses every row as its `code` field, rejecting the code "BAD".
async fn parse_all(content: &'static [u8]) -> Vec<Parsed<String>> {
    let parse_row = |row: u64, fields: &[&[u8]], index: &ColumnIndex| {
        let code = index
            .position("code")
            .and_then(|position| fields.get(position))
            .map(|field| String::from_utf8_lossy(field).into_owned())
            .unwrap_or_default();
        if code == "BAD" {
            Err(Rejection { row, key: Some(code), reason: "bad".to_owned() })
        } else {
            Ok(code)
        }
    };
    let mut receiver = spawn(Box::new(content), FORMAT, 2, parse_row);
    let mut all = Vec::new();
    while let Some(parsed) = receiver.recv().await {
        all.push(parsed);
    }
    all
}

fn rows(all: &[Parsed<String>]) -> Vec<(u64, Result<String, String>)> {
    all.iter()
        .filter_map(|parsed| match parsed {
            Parsed::Rows(rows) => Some(rows),
            _ => None,
        })
        .flatten()
        .map(|(row, result)| (*row, result.clone().map_err(|rejection| rejection.reason)))
        .collect()
}

#[tokio::test]
async fn rows_arrive_numbered_in_chunks_after_the_header() {
    let all = parse_all(b"\xef\xbb\xbfID,Label\r\nA1,\"Two,\nlines\"\r\nBAD,x\r\nA3,y\r\n").await;
    assert!(matches!(all[0], Parsed::Header(_)));
    assert_eq!(all.len(), 4, "header + two chunks of at most 2 rows + end");
    assert!(matches!(all[3], Parsed::End));
    assert_eq!(
        rows(&all),
        vec![(1, Ok("A1".into())), (2, Err("bad".into())), (3, Ok("A3".into()))]
    );
}

#[tokio::test]
async fn semicolon_files_are_read() {
    let all = parse_all(b"code;label\nA1;One, with a comma\n").await;
    assert_eq!(rows(&all), vec![(1, Ok("A1".into()))]);
}

#[tokio::test]
async fn a_file_without_the_required_columns_is_unreadable() {
    let all = parse_all(b"label\nx\n").await;
    match &all[..] {
        [Parsed::Unreadable(message)] => {
            assert_eq!(
                message,
                "the header has no code column; required columns are code (found: 'label')"
            )
        }
        other => panic!("expected one Unreadable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_file_is_unreadable() {
    let all = parse_all(b"").await;
    assert!(matches!(&all[..], [Parsed::Unreadable(m)] if m.starts_with("the file is empty")));
}

#[tokio::test]
async fn a_huge_first_line_is_refused_without_reading_it_all() {
    let line: &'static [u8] = Box::leak(vec![b'x'; 200 * 1024].into_boxed_slice());
    let all = parse_all(line).await;
    assert!(
        matches!(&all[..], [Parsed::Unreadable(m)] if m.starts_with("the first line is longer"))
    );
}

#[tokio::test]
async fn a_parser_that_panics_ends_the_rows_without_an_end() {
    let parse_row = |row: u64, _: &[&[u8]], _: &ColumnIndex| {
        assert!(row < 3, "a bug in the parser at row {row}");
        Ok(row)
    };
    let mut receiver = spawn(Box::new(&b"code\nA\nB\nC\nD\n"[..]), FORMAT, 1, parse_row);
    let mut all = Vec::new();
    while let Some(parsed) = receiver.recv().await {
        all.push(parsed);
    }
    assert!(matches!(&all[..], [Parsed::Header(_), Parsed::Rows(_), Parsed::Rows(_)]), "{all:?}");
}

#[tokio::test]
async fn a_header_without_rows_says_there_is_nothing_to_import() {
    for file in [&b"code,label\n"[..], b"code,label", b"code,label\r\n\r\n\n"] {
        let all = parse_all(file).await;
        assert!(
            matches!(&all[..], [Parsed::Header(_), Parsed::Unreadable(m)]
                if m == "the file has a header line but no rows under it; there is nothing to import"),
            "{all:?}"
        );
    }
}

#[tokio::test]
async fn a_quote_never_closed_hands_over_the_rows_before_it_and_names_its_line() {
    let all = parse_all(b"code,label\nA1,x\nA2,\"two\nlines\"\nA3,\"oops\nA4,y\nA5,z\n").await;
    assert_eq!(rows(&all), vec![(1, Ok("A1".into())), (2, Ok("A2".into()))]);
    match all.last() {
        Some(Parsed::CutShort(message)) => assert_eq!(
            message,
            "line 5 (row 3) opens a quoted field that is never closed, so the rest of the file \
             was read as one field and not imported"
        ),
        other => panic!("expected CutShort, got {other:?}"),
    }
}

#[tokio::test]
async fn a_utf16_file_with_a_byte_order_mark_is_read() {
    // As Excel saves "Unicode Text": UTF-16LE with a byte-order mark, tab-separated.
    let mut file = vec![0xFF, 0xFE];
    file.extend("Code\tLabel\r\nA1\tCafé, au lait\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    let all = parse_all(file.leak()).await;
    assert_eq!(rows(&all), vec![(1, Ok("A1".into()))]);
    assert!(matches!(all.last(), Some(Parsed::End)));
}

#[tokio::test]
async fn bytes_the_named_encoding_cannot_decode_cut_the_file_short() {
    let mut file = vec![0xFF, 0xFE];
    file.extend("code\nA1\n".encode_utf16().flat_map(u16::to_le_bytes));
    file.extend([0x00, 0xD8]); // an unpaired surrogate, then more text
    file.extend("A2\n".encode_utf16().flat_map(u16::to_le_bytes));
    let all = parse_all(file.leak()).await;
    match all.last() {
        Some(Parsed::CutShort(message)) => {
            assert!(message.starts_with("the file is not valid UTF-16LE at byte 19;"), "{message}")
        }
        other => panic!("expected CutShort, got {other:?}"),
    }
}

/// A file made up as it is read: `head`, then `filler` bytes of `x` (never a quote
/// or a line break), then `tail`; it counts the bytes the reader pulled from it.
struct Generated {
    head: &'static [u8],
    filler: u64,
    tail: &'static [u8],
    pulled: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl tokio::io::AsyncRead for Generated {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::sync::atomic::Ordering;
        let at = self.pulled.load(Ordering::Relaxed);
        let head = self.head.len() as u64;
        let filled = if at < head {
            let rest = &self.head[at as usize..];
            let taken = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..taken]);
            taken
        } else if at < head + self.filler {
            let taken = (head + self.filler - at).min(buf.remaining() as u64) as usize;
            buf.initialize_unfilled_to(taken).fill(b'x');
            buf.advance(taken);
            taken
        } else {
            let rest = &self.tail[(at - head - self.filler).min(self.tail.len() as u64) as usize..];
            let taken = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..taken]);
            taken
        };
        self.pulled.fetch_add(filled as u64, Ordering::Relaxed);
        std::task::Poll::Ready(Ok(()))
    }
}

/// Reads a generated file with `limits`; every message, and the bytes pulled.
async fn parse_generated(
    head: &'static [u8],
    filler: u64,
    tail: &'static [u8],
    limits: Limits,
) -> (Vec<Parsed<String>>, u64) {
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let source = Generated { head, filler, tail, pulled: pulled.clone() };
    let format = FileFormat { limits, ..FORMAT };
    let parse_row = |_: u64, fields: &[&[u8]], _: &ColumnIndex| {
        Ok(String::from_utf8_lossy(fields[0]).into_owned())
    };
    let mut receiver = spawn(Box::new(source), format, 100, parse_row);
    let mut all = Vec::new();
    while let Some(parsed) = receiver.recv().await {
        all.push(parsed);
    }
    (all, pulled.load(std::sync::atomic::Ordering::Relaxed))
}

#[tokio::test]
async fn a_gibibyte_inside_an_open_quote_stops_the_read_soon_after_the_row_limit() {
    const GIB: u64 = 1 << 30;
    let (all, pulled) =
        parse_generated(b"code,label\nA1,one\nA2,\"", GIB, b"\"\nA3,three\n", LIMITS).await;
    assert_eq!(rows(&all), vec![(1, Ok("A1".into()))]);
    match all.last() {
        Some(Parsed::CutShort(message)) => assert_eq!(
            message,
            "line 3 (row 2) is longer than 1 MiB, the most a row may hold, inside a quoted field \
             opened on line 3 that is still open: the quote is probably never closed, so the \
             rest of the file was not read"
        ),
        other => panic!("expected CutShort, got {other:?}"),
    }
    // The row limit, plus what the buffers between the source and the parser hold.
    assert!(pulled < LIMITS.row_bytes + 256 * 1024, "{pulled} bytes pulled of a 1 GiB row");
}

#[tokio::test]
async fn a_row_over_the_byte_limit_outside_quotes_is_rejected_and_the_rows_after_it_read() {
    let (all, pulled) =
        parse_generated(b"code,label\nA1,one\nA2,", 3 << 20, b"\r\nA3,three\n", LIMITS).await;
    assert_eq!(
        rows(&all),
        vec![
            (1, Ok("A1".into())),
            (
                2,
                Err("the row is longer than 1 MiB, the most a row may hold; it was not read further"
                    .into())
            ),
            (3, Ok("A3".into())),
        ]
    );
    assert!(matches!(all.last(), Some(Parsed::End)));
    // The rest of the row is read to find its end, and dropped.
    assert_eq!(pulled, 21 + (3 << 20) + 11);
}

#[tokio::test]
async fn a_row_of_a_hundred_thousand_fields_is_rejected_at_the_column_limit() {
    let commas: &'static str = ",".repeat(99_999).leak();
    let file = format!("code,label\nA1,one\nA2{commas}\nA3,three\n");
    let all = parse_all(file.into_bytes().leak()).await;
    assert_eq!(
        rows(&all),
        vec![
            (1, Ok("A1".into())),
            (
                2,
                Err("the row has more than 100 fields, the most a row may have; the header has 2"
                    .into())
            ),
            (3, Ok("A3".into())),
        ]
    );
}

#[tokio::test]
async fn a_field_over_the_field_limit_rejects_its_row() {
    let long = "y".repeat((64 << 10) + 1);
    let file = format!("code,label\nA1,\"{long}\"\nA2,two\n");
    let all = parse_all(file.into_bytes().leak()).await;
    assert_eq!(
        rows(&all),
        vec![
            (1, Err("field 2 is 65,537 bytes long; a field may hold at most 64 KiB".into())),
            (2, Ok("A2".into())),
        ]
    );
}

#[tokio::test]
async fn a_header_with_more_columns_than_the_limit_is_unreadable() {
    let header = format!("code{}\nA1\n", ",x".repeat(200));
    let all = parse_all(header.into_bytes().leak()).await;
    assert!(
        matches!(&all[..], [Parsed::Unreadable(m)]
            if m == "the header line has more than 100 columns, the most a file may have; the \
                     file does not look like CSV with a header line"),
        "{all:?}"
    );
}

#[tokio::test]
async fn a_header_whose_quote_never_closes_is_unreadable_not_retried() {
    let (all, pulled) = parse_generated(b"code,\"label\n", 1 << 30, b"", LIMITS).await;
    assert!(
        matches!(&all[..], [Parsed::Unreadable(m)]
            if m == "the header line opens a quoted field that is not closed within 1 MiB, the \
                     most a row may hold; the file does not look like CSV with a header line"),
        "{all:?}"
    );
    assert!(pulled < LIMITS.row_bytes + 256 * 1024, "{pulled}");
}
