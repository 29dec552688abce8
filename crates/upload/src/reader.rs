//! Reads an upload file from a byte stream on a blocking thread with the `csv`
//! crate and hands parsed rows to the async side in small chunks, so memory stays
//! flat whatever the file size: no row may hold more than the [`Limits`], which are
//! enforced while the bytes are read (see `watch`), not once a row is in memory. What
//! a row means is the caller's row parser.

mod decode;
mod limits;
mod watch;

use std::io::{BufRead, BufReader, Cursor, Read};

use bgjobs_domain::upload::Rejection;
use bgjobs_domain::upload::header::{self, ColumnIndex, ColumnSpec};
use bgjobs_domain::upload::results::thousands;
pub use encoding_rs::Encoding;
pub use limits::{Limits, in_words};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use watch::Watch;

/// The longest header line accepted; anything longer is not an upload file.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// One row as parsed: its 1-based number and a valid value or a rejection.
pub type ParsedRow<T> = (u64, Result<T, Rejection>);

/// What the reader hands over, in this order: one `Header`, then `Rows` chunks,
/// then `End`, or at most one `Unreadable`, `CutShort` or `Broken` instead. A channel
/// that closes without any of these means the reader died (a panic in a row parser):
/// the rows so far are not the whole file.
#[derive(Debug)]
pub enum Parsed<T> {
    /// The header line was matched to the upload's columns.
    Header(ColumnIndex),
    /// Consecutive parsed rows.
    Rows(Vec<ParsedRow<T>>),
    /// The file as a whole cannot be used (no header, missing columns, no rows...): the
    /// job fails.
    Unreadable(String),
    /// The rows handed over are good, but the rest of the file cannot be read (a quote
    /// never closed, bytes its encoding cannot decode): the job fails, saying why.
    CutShort(String),
    /// Reading the stream failed (storage unavailable): worth retrying.
    Broken(String),
    /// Every row of the file was handed over.
    End,
}

/// What the reader needs to know of a file besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct FileFormat {
    /// The columns of the upload.
    pub columns: &'static [ColumnSpec],
    /// The encoding the user named; `None` for UTF-8. A UTF-16 byte-order mark wins.
    pub encoding: Option<&'static Encoding>,
    /// The most one row may hold.
    pub limits: Limits,
}

/// Starts reading `source` on a blocking thread as a file of `format`; each data row
/// goes through `parse_row(row, fields, index)`, which runs on that thread (so it may
/// keep state, such as the keys seen so far). Rows arrive in chunks of `chunk_rows`.
/// Must be called from within a tokio runtime.
pub fn spawn<T, F>(
    source: Box<dyn AsyncRead + Send + Unpin>,
    format: FileFormat,
    chunk_rows: usize,
    parse_row: F,
) -> mpsc::Receiver<Parsed<T>>
where
    T: Send + 'static,
    F: FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<T, Rejection> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(4);
    let bridge = SyncIoBridge::new(source);
    tokio::task::spawn_blocking(move || {
        read_all(bridge, format, chunk_rows.max(1), parse_row, &sender)
    });
    receiver
}

fn read_all<T>(
    source: impl Read + 'static,
    format: FileFormat,
    chunk_rows: usize,
    mut parse_row: impl FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<T, Rejection>,
    sender: &mpsc::Sender<Parsed<T>>,
) {
    // A closed channel means the job was abandoned; stop quietly.
    let send = |parsed| sender.blocking_send(parsed).is_ok();
    let decoded = match decode::utf8(BufReader::with_capacity(64 * 1024, source), format.encoding) {
        Ok(decoded) => decoded,
        Err(error) => {
            send(Parsed::Broken(format!("reading the uploaded file failed: {error}")));
            return;
        }
    };
    let mut source = BufReader::with_capacity(64 * 1024, decoded);
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
            send(unreadable_or_broken(error, Parsed::Unreadable));
            return;
        }
    };
    let delimiter = sniff_delimiter(&first_line);
    let limits = format.limits;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(Watch::new(Cursor::new(first_line).chain(source), delimiter, limits));

    let mut record = csv::ByteRecord::new();
    let header_fields: Vec<String> = match csv.read_byte_record(&mut record) {
        Ok(true) => {
            let parsed_up_to = csv.position().byte();
            if let Some(overflow) = csv.get_mut().take_overflow(parsed_up_to) {
                send(Parsed::Unreadable(limits.header_overflow(overflow)));
                return;
            }
            record.iter().map(|field| String::from_utf8_lossy(field).into_owned()).collect()
        }
        Ok(false) => Vec::new(),
        Err(_) if csv.get_ref().stuck_in_quotes().is_some() => {
            send(Parsed::Unreadable(limits.header_stuck_in_quotes()));
            return;
        }
        Err(error) => {
            send(csv_failure(error, Parsed::Unreadable));
            return;
        }
    };
    let index = match header::resolve(&header_fields, format.columns) {
        Ok(index) => index,
        Err(error) => {
            send(Parsed::Unreadable(error.to_string()));
            return;
        }
    };
    if !send(Parsed::Header(index.clone())) {
        return;
    }

    let mut chunk = Vec::with_capacity(chunk_rows);
    let mut row: u64 = 0;
    loop {
        let cut_short = match csv.read_byte_record(&mut record) {
            Ok(true) => csv.get_ref().unclosed_quote().map(|line| {
                Parsed::CutShort(format!(
                    "line {} (row {}) opens a quoted field that is never closed, so the rest of \
                     the file was read as one field and not imported",
                    thousands(line),
                    thousands(row + 1)
                ))
            }),
            Ok(false) if row == 0 => Some(Parsed::Unreadable(
                "the file has a header line but no rows under it; there is nothing to import"
                    .to_owned(),
            )),
            Ok(false) => break,
            Err(error) => Some(match csv.get_ref().stuck_in_quotes() {
                Some(stuck) => Parsed::CutShort(limits.stuck_in_quotes(stuck, row + 1)),
                None => csv_failure(error, Parsed::CutShort),
            }),
        };
        if let Some(failure) = cut_short {
            if !chunk.is_empty() && !send(Parsed::Rows(std::mem::take(&mut chunk))) {
                return;
            }
            send(failure);
            return;
        }
        row += 1;
        let parsed_up_to = csv.position().byte();
        let too_big = match csv.get_mut().take_overflow(parsed_up_to) {
            Some(overflow) => Some(limits.overflow_reason(overflow, index.width)),
            None => limits.oversized_field(&record),
        };
        let parsed = match too_big {
            Some(reason) => Err(Rejection { row, key: None, reason }),
            None => {
                let fields: Vec<&[u8]> = record.iter().collect();
                parse_row(row, &fields, &index)
            }
        };
        chunk.push((row, parsed));
        if chunk.len() >= chunk_rows && !send(Parsed::Rows(std::mem::take(&mut chunk))) {
            return;
        }
    }
    if !chunk.is_empty() && !send(Parsed::Rows(chunk)) {
        return;
    }
    send(Parsed::End);
}

/// A failed read: bytes the file's encoding cannot decode make the file unusable
/// (`unusable` says how); anything else is a storage fault, worth retrying.
fn unreadable_or_broken<T>(
    error: std::io::Error,
    unusable: impl FnOnce(String) -> Parsed<T>,
) -> Parsed<T> {
    if error.kind() == std::io::ErrorKind::InvalidData {
        unusable(format!("{error}; upload it again naming its encoding, or save it as UTF-8"))
    } else {
        Parsed::Broken(format!("reading the uploaded file failed: {error}"))
    }
}

/// A failed read of the parser, as [`unreadable_or_broken`].
fn csv_failure<T>(error: csv::Error, unusable: impl FnOnce(String) -> Parsed<T>) -> Parsed<T> {
    if let csv::ErrorKind::Io(io) = error.kind()
        && io.kind() == std::io::ErrorKind::InvalidData
    {
        return unusable(format!("{io}; upload it again naming its encoding, or save it as UTF-8"));
    }
    Parsed::Broken(format!("reading the uploaded file failed: {error}"))
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

/// The separator the header line uses most: comma, semicolon (as spreadsheets in many
/// European locales save CSV) or tab (Excel's "Unicode Text"); comma on a tie.
fn sniff_delimiter(header_line: &[u8]) -> u8 {
    let count = |wanted: u8| header_line.iter().filter(|&&byte| byte == wanted).count();
    [b';', b'\t']
        .into_iter()
        .fold(b',', |best, candidate| if count(candidate) > count(best) { candidate } else { best })
}

#[cfg(test)]
mod tests;
