use super::*;

const ROOMY: Limits = Limits { row_bytes: 1 << 20, field_bytes: 1 << 20, columns: 1000 };

fn unclosed(text: &str, delimiter: u8) -> Option<u64> {
    let mut watch = Watch::new(text.as_bytes(), delimiter, ROOMY);
    io::copy(&mut watch, &mut io::sink()).expect("reads");
    watch.unclosed_quote()
}

/// Parses `text` through a watch with `limits`: each record as text, with how it was
/// cut; then the error that stopped the read, if any.
fn parse(text: &str, limits: Limits) -> (Vec<(String, Option<Overflow>)>, Option<StuckInQuotes>) {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Watch::new(text.as_bytes(), b',', limits));
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    while let Ok(true) = csv.read_byte_record(&mut record) {
        let parsed_up_to = csv.position().byte();
        let overflow = csv.get_mut().take_overflow(parsed_up_to);
        let fields: Vec<String> =
            record.iter().map(|field| String::from_utf8_lossy(field).into_owned()).collect();
        records.push((fields.join("|"), overflow));
    }
    (records, csv.get_ref().stuck_in_quotes())
}

#[test]
fn closed_quotes_escaped_quotes_and_line_breaks_in_quotes_are_fine() {
    assert_eq!(unclosed("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\n", b','), None);
    // A quote inside an unquoted field is a plain character.
    assert_eq!(unclosed("a,b\n12\" screen,z\n", b','), None);
}

#[test]
fn a_quote_never_closed_is_found_with_its_line() {
    assert_eq!(unclosed("a,b\nx,y\n\"oops,z\nq,r\ns,t\n", b','), Some(3));
    assert_eq!(unclosed("a;b\nx;\"open\n", b';'), Some(2));
}

#[test]
fn the_delimiter_decides_where_a_field_starts() {
    // With ';' as the delimiter, the quote after ',' is inside an unquoted field.
    assert_eq!(unclosed("a;b\nx,\"y;z\n", b';'), None);
    assert_eq!(unclosed("a,b\nx,\"y;z\n", b','), Some(2));
}

#[test]
fn rows_within_the_limits_pass_untouched() {
    let limits = Limits { row_bytes: 8, field_bytes: 8, columns: 3 };
    let (records, stuck) = parse("a,b,c\r\n\r\n\"x\ny\",z\n12345678\n", limits);
    let expected = [("a|b|c", None), ("x\ny|z", None), ("12345678", None)]
        .map(|(text, cut)| (text.to_owned(), cut));
    assert_eq!(records, expected);
    assert_eq!(stuck, None);
}

#[test]
fn a_row_over_the_byte_limit_outside_quotes_is_cut_and_the_next_row_read() {
    let limits = Limits { row_bytes: 8, field_bytes: 8, columns: 10 };
    // The rest of the long row is dropped up to its end, across a quoted line break.
    let (records, stuck) = parse("a,b\n123456789,\"q\nq\",x\nc,d\r\ne,f", limits);
    assert_eq!(records.len(), 4, "{records:?}");
    assert_eq!(records[1], ("12345678".to_owned(), Some(Overflow::RowBytes)));
    assert_eq!(records[2], ("c|d".to_owned(), None));
    assert_eq!(records[3], ("e|f".to_owned(), None));
    assert_eq!(stuck, None);
}

#[test]
fn the_last_row_cut_at_the_end_of_the_file_is_still_reported() {
    let limits = Limits { row_bytes: 4, field_bytes: 4, columns: 10 };
    let (records, _) = parse("a,b\nabcdefgh", limits);
    assert_eq!(records[1], ("abcd".to_owned(), Some(Overflow::RowBytes)));
}

#[test]
fn a_row_with_more_fields_than_the_column_limit_is_cut_at_the_limit() {
    let limits = Limits { row_bytes: 100, field_bytes: 100, columns: 3 };
    let (records, _) = parse("a,b,c\n,,,,,,,\nx,y,z\n", limits);
    assert_eq!(records[1], ("||".to_owned(), Some(Overflow::Columns)));
    assert_eq!(records[2], ("x|y|z".to_owned(), None));
}

#[test]
fn a_row_over_the_byte_limit_inside_quotes_stops_the_read_naming_its_lines() {
    let limits = Limits { row_bytes: 16, field_bytes: 16, columns: 10 };
    let (records, stuck) = parse("a,b\nx,y\nz,\"open\nand on\nand on and on\n", limits);
    assert_eq!(records, [("a|b".to_owned(), None), ("x|y".to_owned(), None)]);
    assert_eq!(stuck, Some(StuckInQuotes { record_line: 3, quote_line: 3 }));
}
