//! Turning an upload into UTF-8 before it is parsed: a file with a UTF-16 byte-order
//! mark (Excel's "Unicode Text") is decoded whatever the job says, a file whose
//! encoding the user named (e.g. Windows-1252, Excel's "CSV" on Windows) is decoded
//! from it, and anything else is passed on untouched, so that the row checks still
//! name a byte that is not UTF-8 instead of replacing it. A byte sequence the
//! encoding cannot decode stops the read with its position: never a silent U+FFFD.

use std::io::{self, BufRead, Read};

use encoding_rs::{DecoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// The source as UTF-8: `encoding` is what the user named (`None`: UTF-8).
pub fn utf8<R: BufRead + 'static>(
    mut source: R,
    encoding: Option<&'static Encoding>,
) -> io::Result<Box<dyn Read>> {
    let start = source.fill_buf()?;
    let utf16_bom = matches!(Encoding::for_bom(start), Some((found, _)) if found == UTF_16LE || found == UTF_16BE);
    Ok(match encoding {
        _ if utf16_bom => Box::new(Transcoder::new(source, UTF_16LE)),
        Some(named) if named != UTF_8 => Box::new(Transcoder::new(source, named)),
        _ => Box::new(source),
    })
}

/// Decodes `inner` from an encoding into UTF-8 as it is read. A byte-order mark, if
/// any, decides the encoding and is dropped.
struct Transcoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    /// Decoded bytes not yet handed out: `decoded[handed_out..]`.
    decoded: Vec<u8>,
    handed_out: usize,
    /// Input bytes consumed so far, for the position of a bad sequence.
    consumed: u64,
    finished: bool,
    /// A bad sequence found, reported once the text before it has been read.
    malformed: Option<String>,
}

/// How much is decoded at a time.
const DECODED_CHUNK: usize = 16 * 1024;

impl<R: BufRead> Transcoder<R> {
    fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder(),
            decoded: Vec::with_capacity(DECODED_CHUNK),
            handed_out: 0,
            consumed: 0,
            finished: false,
            malformed: None,
        }
    }

    /// Decodes the next piece of input into `decoded`; a bad sequence ends the decoding
    /// (see `malformed`).
    fn decode_more(&mut self) -> io::Result<()> {
        let input = self.inner.fill_buf()?;
        let last = input.is_empty();
        self.decoded.clear();
        self.decoded.resize(DECODED_CHUNK, 0);
        self.handed_out = 0;
        let (result, read, written) =
            self.decoder.decode_to_utf8_without_replacement(input, &mut self.decoded, last);
        self.inner.consume(read);
        self.consumed += read as u64;
        self.decoded.truncate(written);
        match result {
            DecoderResult::Malformed(length, after) => {
                let at = self.consumed - u64::from(after) - u64::from(length) + 1;
                let encoding = self.decoder.encoding().name();
                self.malformed = Some(format!("the file is not valid {encoding} at byte {at}"));
                Ok(())
            }
            DecoderResult::InputEmpty if last => {
                self.finished = true;
                Ok(())
            }
            DecoderResult::InputEmpty | DecoderResult::OutputFull => Ok(()),
        }
    }
}

impl<R: BufRead> Read for Transcoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.handed_out == self.decoded.len() {
            if let Some(malformed) = &self.malformed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, malformed.clone()));
            }
            if self.finished {
                return Ok(0);
            }
            self.decode_more()?;
        }
        let available = &self.decoded[self.handed_out..];
        let taken = available.len().min(out.len());
        out[..taken].copy_from_slice(&available[..taken]);
        self.handed_out += taken;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &'static [u8], encoding: Option<&'static Encoding>) -> io::Result<String> {
        // A small buffer, so that characters are cut between reads.
        let source = io::BufReader::with_capacity(3, bytes);
        let mut text = String::new();
        utf8(source, encoding)?.read_to_string(&mut text)?;
        Ok(text)
    }

    fn utf16le_with_bom(text: &str) -> &'static [u8] {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes.leak()
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_decoded_whatever_the_job_says() {
        let file = utf16le_with_bom("sku\tname\r\nA-1\tCafé ☕\r\n");
        assert_eq!(decoded(file, None).expect("decodes"), "sku\tname\r\nA-1\tCafé ☕\r\n");
        let named = Encoding::for_label(b"windows-1252");
        assert_eq!(decoded(file, named).expect("decodes"), "sku\tname\r\nA-1\tCafé ☕\r\n");
        let mut big_endian = vec![0xFE, 0xFF];
        big_endian.extend("Zoë".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decoded(big_endian.leak(), None).expect("decodes"), "Zoë");
    }

    #[test]
    fn a_named_single_byte_encoding_is_decoded() {
        let windows_1252: &[u8] = b"name\nCaf\xe9 \x80 5\n";
        let named = Encoding::for_label(b"windows-1252");
        assert_eq!(decoded(windows_1252, named).expect("decodes"), "name\nCafé € 5\n");
    }

    #[test]
    fn utf8_passes_untouched_so_bad_bytes_reach_the_row_checks() {
        let bytes: &[u8] = b"\xef\xbb\xbfname\nCaf\xe9\n";
        let mut out = Vec::new();
        utf8(io::BufReader::new(bytes), None).expect("opens").read_to_end(&mut out).expect("reads");
        assert_eq!(out, bytes);
    }

    #[test]
    fn a_sequence_the_encoding_cannot_decode_stops_the_read_with_its_position() {
        // An unpaired high surrogate (D800) followed by "A".
        let file: &[u8] = &[0xFF, 0xFE, b'x', 0, 0x00, 0xD8, b'A', 0];
        let error = decoded(file, None).expect_err("malformed");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "the file is not valid UTF-16LE at byte 5");
    }
}
