//! Finding a quoted field that is never closed. The `csv` crate reads such a field to
//! the end of the file and hands it over as one last field, so the rows after the
//! stray quote vanish without an error; this watches the bytes the parser reads,
//! with the same quoting rules, and says where that quote opened.

use std::io::{self, Read};

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

/// A reader that passes `inner` through and follows its quoting.
pub struct QuoteWatch<R> {
    inner: R,
    delimiter: u8,
    state: State,
    /// The 1-based line being read.
    line: u64,
    /// The line where the open quoted field started.
    opened_on: u64,
    at_end: bool,
}

impl<R: Read> QuoteWatch<R> {
    /// Watches `inner`, a CSV file whose fields are separated by `delimiter`.
    pub fn new(inner: R, delimiter: u8) -> Self {
        Self { inner, delimiter, state: State::FieldStart, line: 1, opened_on: 0, at_end: false }
    }

    /// The line where a quoted field opened that the end of the file left open; `None`
    /// before the end, or when every quote was closed.
    pub fn unclosed_quote(&self) -> Option<u64> {
        (self.at_end && self.state == State::Quoted).then_some(self.opened_on)
    }

    fn follow(&mut self, byte: u8) {
        let ends_field = byte == self.delimiter || byte == b'\n' || byte == b'\r';
        self.state = match (self.state, byte) {
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
    }
}

impl<R: Read> Read for QuoteWatch<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(out)?;
        if read == 0 && !out.is_empty() {
            self.at_end = true;
        }
        for &byte in &out[..read] {
            self.follow(byte);
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unclosed(text: &str, delimiter: u8) -> Option<u64> {
        let mut watch = QuoteWatch::new(text.as_bytes(), delimiter);
        io::copy(&mut watch, &mut io::sink()).expect("reads");
        watch.unclosed_quote()
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
}
