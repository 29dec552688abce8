//! Reads a product file from a byte stream on a blocking thread with the `csv`
//! crate and hands parsed rows to the async side in small chunks, so memory
//! stays flat whatever the file size.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Read};

use bgjobs_domain::upload::header::{self, ColumnIndex};
use bgjobs_domain::upload::{Rejection, product};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

/// The longest header line accepted; anything longer is not a product file.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// One row as parsed: a valid product or a rejection.
pub type ParsedRow = (u64, Result<product::Product, Rejection>);

/// What the reader hands over, in this order: one `Header`, then `Rows` chunks,
/// then at most one `Unreadable` or `Broken`.
#[derive(Debug)]
pub enum Parsed {
    /// The header line was matched to the product columns.
    Header(ColumnIndex),
    /// Consecutive parsed rows.
    Rows(Vec<ParsedRow>),
    /// The file as a whole cannot be used (no header, missing columns...): the job fails.
    Unreadable(String),
    /// Reading the stream failed (storage unavailable): worth retrying.
    Broken(String),
}

/// Starts reading `source` on a blocking thread; rows arrive in chunks of `chunk_rows`.
/// Must be called from within a tokio runtime.
pub fn spawn(
    source: Box<dyn AsyncRead + Send + Unpin>,
    chunk_rows: usize,
) -> mpsc::Receiver<Parsed> {
    let (sender, receiver) = mpsc::channel(4);
    let bridge = SyncIoBridge::new(source);
    tokio::task::spawn_blocking(move || read_all(bridge, chunk_rows, &sender));
    receiver
}

fn read_all(source: impl Read, chunk_rows: usize, sender: &mpsc::Sender<Parsed>) {
    // A closed channel means the job was abandoned; stop quietly.
    let send = |parsed| sender.blocking_send(parsed).is_ok();
    let mut source = BufReader::with_capacity(64 * 1024, source);
    let first_line = match read_first_line(&mut source) {
        Ok(line) => line,
        Err(FirstLine::TooLong) => {
            send(Parsed::Unreadable(format!(
                "the first line is longer than {} KiB; the file does not look like CSV with a header line",
                MAX_HEADER_BYTES / 1024
            )));
            return;
        }
        Err(FirstLine::Io(error)) => {
            send(Parsed::Broken(format!("reading the uploaded file failed: {error}")));
            return;
        }
    };
    let delimiter = sniff_delimiter(&first_line);
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(Cursor::new(first_line).chain(source));

    let mut record = csv::ByteRecord::new();
    let header_fields: Vec<String> = match csv.read_byte_record(&mut record) {
        Ok(true) => {
            record.iter().map(|field| String::from_utf8_lossy(field).into_owned()).collect()
        }
        Ok(false) => Vec::new(),
        Err(error) => {
            send(Parsed::Broken(format!("reading the uploaded file failed: {error}")));
            return;
        }
    };
    let index = match header::resolve(&header_fields, product::COLUMNS) {
        Ok(index) => index,
        Err(error) => {
            send(Parsed::Unreadable(error.to_string()));
            return;
        }
    };
    if !send(Parsed::Header(index.clone())) {
        return;
    }

    let mut first_row_of_sku: HashMap<String, u64> = HashMap::new();
    let mut chunk = Vec::with_capacity(chunk_rows);
    let mut row: u64 = 0;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                send(Parsed::Broken(format!("reading the uploaded file failed: {error}")));
                return;
            }
        }
        row += 1;
        let fields: Vec<&[u8]> = record.iter().collect();
        let parsed =
            product::parse(row, &fields, &index).and_then(|product| {
                match first_row_of_sku.get(&product.sku) {
                    Some(first) => Err(Rejection {
                        row,
                        key: Some(product.sku.clone()),
                        reason: format!(
                            "sku: '{}' appears again; it was first given in row {first}",
                            product.sku
                        ),
                    }),
                    None => {
                        first_row_of_sku.insert(product.sku.clone(), row);
                        Ok(product)
                    }
                }
            });
        chunk.push((row, parsed));
        if chunk.len() >= chunk_rows && !send(Parsed::Rows(std::mem::take(&mut chunk))) {
            return;
        }
    }
    if !chunk.is_empty() {
        send(Parsed::Rows(chunk));
    }
}

enum FirstLine {
    TooLong,
    Io(std::io::Error),
}

/// Reads the header line (through its newline) without letting a file with no
/// newline at all be read into memory.
fn read_first_line(source: &mut impl BufRead) -> Result<Vec<u8>, FirstLine> {
    let mut line = Vec::new();
    loop {
        let available = source.fill_buf().map_err(FirstLine::Io)?;
        if available.is_empty() {
            return Ok(line);
        }
        if let Some(end) = available.iter().position(|&byte| byte == b'\n') {
            line.extend_from_slice(&available[..=end]);
            source.consume(end + 1);
            return Ok(line);
        }
        let taken = available.len();
        line.extend_from_slice(available);
        source.consume(taken);
        if line.len() > MAX_HEADER_BYTES {
            return Err(FirstLine::TooLong);
        }
    }
}

/// Comma, unless the header line has more semicolons than commas (as spreadsheets
/// in many European locales save CSV).
fn sniff_delimiter(header_line: &[u8]) -> u8 {
    let count = |wanted: u8| header_line.iter().filter(|&&byte| byte == wanted).count();
    if count(b';') > count(b',') { b';' } else { b',' }
}

#[cfg(test)]
mod tests;
