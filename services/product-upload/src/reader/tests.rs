use super::*;

async fn parse_all(content: &'static [u8]) -> Vec<Parsed> {
    let mut receiver = spawn(Box::new(content), 2);
    let mut all = Vec::new();
    while let Some(parsed) = receiver.recv().await {
        all.push(parsed);
    }
    all
}

fn rows(all: &[Parsed]) -> Vec<(u64, Result<String, String>)> {
    all.iter()
        .filter_map(|parsed| match parsed {
            Parsed::Rows(rows) => Some(rows),
            _ => None,
        })
        .flatten()
        .map(|(row, result)| {
            (*row, result.as_ref().map(|p| p.sku.clone()).map_err(|r| r.reason.clone()))
        })
        .collect()
}

#[tokio::test]
async fn rows_arrive_numbered_in_chunks_after_the_header() {
    let all = parse_all(
        b"\xef\xbb\xbfSKU,Name,Description\r\nA1,One,\r\nA2,Two,\r\nA3,Three,\"Two,\nlines\"\r\n",
    )
    .await;
    assert!(matches!(all[0], Parsed::Header(_)));
    assert_eq!(all.len(), 3, "header + two chunks of at most 2 rows");
    assert_eq!(rows(&all), vec![(1, Ok("A1".into())), (2, Ok("A2".into())), (3, Ok("A3".into()))]);
}

#[tokio::test]
async fn semicolon_files_are_read() {
    let all = parse_all(b"sku;name;price\nA1;One;1.50\n").await;
    assert_eq!(rows(&all), vec![(1, Ok("A1".into()))]);
}

#[tokio::test]
async fn a_repeated_sku_is_rejected_naming_the_first_row() {
    let all = parse_all(b"sku,name\nA1,One\nA2,Two\nA1,Again\n").await;
    assert_eq!(
        rows(&all)[2],
        (3, Err("sku: 'A1' appears again; it was first given in row 1".into()))
    );
}

#[tokio::test]
async fn a_file_without_the_required_columns_is_unreadable() {
    let all = parse_all(b"{\"products\": []}\n").await;
    match &all[..] {
        [Parsed::Unreadable(message)] => {
            assert!(message.starts_with("the header has no sku, name columns"), "{message}")
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
