//! Watching the bytes the `csv` parser reads, with its own quoting rules, so that no
//! row can make the reader hold more than the limits allow.
//!
//! The `csv` crate buffers a whole record before handing it over: a `"` followed by a
//! gigabyte, or a gigabyte without a line break, would be held in memory whole. The
//! watcher sits under the parser and counts each record's bytes and fields as they
//! pass, so the bound holds *while* reading:
//!
//! - A record that grows past the row limit, or past the column limit, outside a quoted
//!   field ends at the next line break, so the parser can pick up again there: the
//!   watcher stops passing bytes on, drops the rest of the record (following quotes,
//!   holding nothing) and passes its line break, so the parser hands over a cut record
//!   which the reader rejects ([`Overflow`]).
//! - A record that grows past the row limit *inside* a quoted field cannot be resumed:
//!   only the rest of the file says whether the quote ever closes, and a stray quote
//!   would make everything after it one field. The watcher stops the read with an
//!   error ([`StuckInQuotes`]), having passed at most the limit.
//!
//! It also finds a quoted field that the end of the file leaves open: the `csv` crate
//! reads such a field to the end of the file and hands it over as one last field, so
//! the rows after the stray quote would vanish without an error.

use std::collections::VecDeque;
use std::io::{self, Read};

use super::Limits;

/// Where the watched bytes stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field: a quote here opens a quoted field.
    FieldStart,
    /// Inside an unquoted field: quotes are plain characters.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a second quote is an escaped quote.
    QuoteInQuoted,
}

/// Why a record was cut short and must be rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// It grew past the row limit outside a quoted field.
    RowBytes,
    /// It had more fields than the column limit.
    Columns,
}

/// A record that grew past the row limit inside a quoted field: the read stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckInQuotes {
    /// The line where the record began.
    pub record_line: u64,
    /// The line where the quoted field opened.
    pub quote_line: u64,
}

/// A reader that passes `inner` through, within the limits, and follows its quoting.
pub struct Watch<R> {
    inner: R,
    delimiter: u8,
    limits: Limits,
    state: State,
    /// The 1-based line being read.
    line: u64,
    /// The line where the open quoted field started.
    opened_on: u64,
    at_end: bool,
    /// Bytes handed to the parser so far: the offset of the next byte passed on.
    passed: u64,
    /// The record being read, if one has begun (blank lines between records are not).
    record: Option<Record>,
    /// Cut records, with the offset of their first byte, oldest first.
    overflows: VecDeque<(u64, Overflow)>,
    stuck: Option<StuckInQuotes>,
}

/// What is counted of the record being read.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// The offset of its first byte among the bytes passed on.
    starts_at: u64,
    line: u64,
    bytes: u64,
    fields: u64,
    /// Set once it is cut: the rest is dropped up to its end.
    cut: bool,
}

/// What becomes of one byte.
enum Fate {
    Pass,
    Drop,
    Stop,
}

impl<R: Read> Watch<R> {
    /// Watches `inner`, a CSV file whose fields are separated by `delimiter`.
    pub fn new(inner: R, delimiter: u8, limits: Limits) -> Self {
        Self {
            inner,
            delimiter,
            limits,
            state: State::FieldStart,
            line: 1,
            opened_on: 0,
            at_end: false,
            passed: 0,
            record: None,
            overflows: VecDeque::new(),
            stuck: None,
        }
    }

    /// The line where a quoted field opened that the end of the file left open; `None`
    /// before the end, or when every quote was closed.
    pub fn unclosed_quote(&self) -> Option<u64> {
        (self.at_end && self.state == State::Quoted).then_some(self.opened_on)
    }

    /// Why the read stopped, if a record outgrew the row limit inside quotes.
    pub fn stuck_in_quotes(&self) -> Option<StuckInQuotes> {
        self.stuck
    }

    /// How the record the parser has just handed over was cut, if it was; `parsed_up_to`
    /// is the parser's byte offset after it (`csv::Reader::position`). Call once per
    /// record, in order.
    pub fn take_overflow(&mut self, parsed_up_to: u64) -> Option<Overflow> {
        let mut found = None;
        while let Some(&(starts_at, overflow)) = self.overflows.front()
            && starts_at < parsed_up_to
        {
            found = Some(overflow);
            self.overflows.pop_front();
        }
        found
    }

    /// Follows `byte` through the quoting rules; whether it ends a record.
    fn follow(&mut self, byte: u8) -> bool {
        let line_break = byte == b'\n' || byte == b'\r';
        let ends_field = byte == self.delimiter || line_break;
        let before = self.state;
        self.state = match (before, byte) {
            (State::FieldStart, b'"') => {
                self.opened_on = self.line;
                State::Quoted
            }
            (State::FieldStart | State::Unquoted, _) if ends_field => State::FieldStart,
            (State::FieldStart | State::Unquoted, _) => State::Unquoted,
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::QuoteInQuoted, _) if ends_field => State::FieldStart,
            // The parser reads on as an unquoted field after a closing quote.
            (State::QuoteInQuoted, _) => State::Unquoted,
        };
        if byte == b'\n' {
            self.line += 1;
        }
        line_break && before != State::Quoted
    }

    /// Decides what becomes of the next byte of the file.
    fn judge(&mut self, byte: u8) -> Fate {
        let ends_record = self.follow(byte);
        if ends_record {
            // The end of the record, or a blank line between records (the parser skips
            // those): either way the parser needs it.
            self.record = None;
            return Fate::Pass;
        }
        let (passed, line) = (self.passed, self.line);
        let record = self.record.get_or_insert(Record {
            starts_at: passed,
            line,
            bytes: 0,
            fields: 1,
            cut: false,
        });
        if record.cut {
            return Fate::Drop;
        }
        record.bytes += 1;
        if byte == self.delimiter && self.state == State::FieldStart {
            record.fields += 1;
        }
        let overflow = if record.bytes > self.limits.row_bytes {
            if matches!(self.state, State::Quoted | State::QuoteInQuoted) {
                self.stuck =
                    Some(StuckInQuotes { record_line: record.line, quote_line: self.opened_on });
                return Fate::Stop;
            }
            Overflow::RowBytes
        } else if record.fields > self.limits.columns {
            Overflow::Columns
        } else {
            return Fate::Pass;
        };
        record.cut = true;
        self.overflows.push_back((record.starts_at, overflow));
        Fate::Drop
    }
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.stuck.is_some() {
            return Err(stopped());
        }
        loop {
            let read = self.inner.read(out)?;
            if read == 0 {
                if !out.is_empty() {
                    self.at_end = true;
                }
                return Ok(0);
            }
            let mut kept = 0;
            for position in 0..read {
                let byte = out[position];
                match self.judge(byte) {
                    Fate::Pass => {
                        out[kept] = byte;
                        kept += 1;
                        self.passed += 1;
                    }
                    Fate::Drop => {}
                    // The bytes up to the limit go on; the next read reports the stop.
                    Fate::Stop if kept > 0 => return Ok(kept),
                    Fate::Stop => return Err(stopped()),
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
            // Every byte read was dropped: read on rather than look like the end.
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("a row is longer than the limit inside a quoted field")
}

#[cfg(test)]
mod tests;
