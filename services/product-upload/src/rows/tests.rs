use bgjobs_upload::reader;

use super::*;

type Parsed = reader::Parsed<product::Product>;

async fn parse_all(content: &'static [u8]) -> Vec<Parsed> {
    let rows = ProductRows { client_id: "acme".to_owned() };
    let format = reader::FileFormat {
        columns: ProductRows::COLUMNS,
        encoding: None,
        limits: reader::Limits::DEFAULT,
    };
    let mut receiver = reader::spawn(Box::new(content), format, 2, rows.parser());
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
    assert_eq!(all.len(), 4, "header + two chunks of at most 2 rows + end");
    assert!(matches!(all[3], Parsed::End));
    assert_eq!(rows(&all), vec![(1, Ok("A1".into())), (2, Ok("A2".into())), (3, Ok("A3".into()))]);
}

#[tokio::test]
async fn semicolon_files_are_read() {
    let all = parse_all(b"sku;name;price\nA1;One;1.50\n").await;
    assert_eq!(rows(&all), vec![(1, Ok("A1".into()))]);
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
