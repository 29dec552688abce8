//! Whether an upload starts as text in the encoding it names, judged from its first
//! bytes before anything is stored. A refusal says what the file looks like instead
//! (a workbook, UTF-16 without a byte-order mark, Windows-1252...) and how to send
//! it, so the user does not have to guess. The rest of the file is checked by the
//! consumer, which names the row or byte.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{DecoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};

use crate::Error;
use crate::body::Prefix;

/// Refuses an empty body, and one whose first bytes are not text in `encoding`
/// (`None`: UTF-8). A UTF-16 byte-order mark names its own encoding.
pub(crate) fn check_text(
    prefix: &Prefix,
    encoding: Option<&'static Encoding>,
) -> Result<(), Error> {
    let bytes = &prefix.bytes[..];
    if bytes.is_empty() {
        return Err(Error::EmptyFile);
    }
    // A PDF starts as ASCII and goes on in bytes any legacy encoding reads as text.
    if bytes.starts_with(b"%PDF-") {
        return Err(Error::NotCsvText {
            reason: "it is a PDF document; export the data as CSV UTF-8 from the program that \
                     made it and upload that file"
                .to_owned(),
        });
    }
    if let Some((found, _)) = Encoding::for_bom(bytes)
        && (found == UTF_16LE || found == UTF_16BE)
    {
        return decodes(bytes, found, prefix.complete);
    }
    match encoding.filter(|named| *named != UTF_8) {
        // NUL bytes are how UTF-16 writes ASCII.
        Some(utf16) if utf16 == UTF_16LE || utf16 == UTF_16BE => {
            decodes(bytes, utf16, prefix.complete)
        }
        _ if bytes.contains(&0) => Err(Error::NotCsvText { reason: binary_kind(bytes) }),
        Some(named) => decodes(bytes, named, prefix.complete),
        None => utf8(bytes, prefix.complete),
    }
}

/// What a body with NUL bytes is, as the refusal says it.
fn binary_kind(bytes: &[u8]) -> String {
    let save_as_csv = "save the sheet as CSV UTF-8 and upload that file";
    if bytes.starts_with(b"PK\x03\x04") {
        format!("it is a ZIP archive, as Excel workbooks (.xlsx) are; {save_as_csv}")
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        format!("it is an Excel 97-2003 workbook (.xls); {save_as_csv}")
    } else if let Some(utf16) = utf16_without_bom(bytes) {
        format!(
            "it looks like {} text without a byte-order mark; upload it again with the encoding \
             {}, or save it as CSV UTF-8",
            utf16.name(),
            utf16.name().to_lowercase()
        )
    } else {
        "it contains NUL bytes, as binary files do; save it as CSV UTF-8 and upload it again"
            .to_owned()
    }
}

/// UTF-16 of mostly ASCII text has a NUL in every other byte: in the odd positions
/// for little-endian, the even ones for big-endian.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let pairs = bytes.len() / 2;
    let nul_at = |parity: usize| {
        bytes.chunks_exact(2).filter(|pair| pair[parity] == 0 && pair[1 - parity] != 0).count()
    };
    if pairs == 0 {
        return None;
    }
    if nul_at(1) * 10 >= pairs * 9 {
        Some(UTF_16LE)
    } else if nul_at(0) * 10 >= pairs * 9 {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// UTF-8 text, or a refusal naming the encoding the bytes most likely are in.
fn utf8(bytes: &[u8], complete: bool) -> Result<(), Error> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        // The prefix may end inside a multi-byte character; only a complete body
        // must end on a character boundary.
        Err(error) if error.error_len().is_none() && !complete => Ok(()),
        Err(_) => {
            let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
            detector.feed(bytes, complete);
            let likely = detector.guess(None, Utf8Detection::Deny);
            let habit = if likely == encoding_rs::WINDOWS_1252 {
                " (Excel on Windows saves CSV so)"
            } else {
                ""
            };
            Err(Error::NotCsvText {
                reason: format!(
                    "it is not UTF-8 text, and looks like {}{habit}; upload it again with the \
                     encoding {}, or save it as CSV UTF-8",
                    likely.name(),
                    likely.name().to_lowercase()
                ),
            })
        }
    }
}

/// Text in `encoding`, or a refusal naming the first byte that is not.
fn decodes(bytes: &[u8], encoding: &'static Encoding, complete: bool) -> Result<(), Error> {
    let mut decoder = encoding.new_decoder();
    let mut out = vec![0; 16 * 1024];
    let mut consumed = 0;
    loop {
        let (result, read, _) =
            decoder.decode_to_utf8_without_replacement(&bytes[consumed..], &mut out, complete);
        consumed += read;
        match result {
            DecoderResult::InputEmpty => return Ok(()),
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(length, after) => {
                let at = consumed - usize::from(after) - usize::from(length) + 1;
                return Err(Error::NotCsvText {
                    reason: format!(
                        "it is not {} text (byte {at} cannot be read in that encoding); \
                         check the encoding, or save it as CSV UTF-8",
                        decoder.encoding().name()
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn check(bytes: &[u8], encoding: Option<&str>) -> Result<(), String> {
        let prefix = Prefix { bytes: Bytes::copy_from_slice(bytes), complete: true };
        let encoding = encoding.and_then(|label| Encoding::for_label(label.as_bytes()));
        check_text(&prefix, encoding).map_err(|error| error.user_message())
    }

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let start: &[u8] = if bom { &[0xFF, 0xFE] } else { &[] };
        start.iter().copied().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
    }

    #[test]
    fn utf8_and_utf16_with_a_byte_order_mark_pass() {
        assert_eq!(check("sku,name\nA-1,Café\n".as_bytes(), None), Ok(()));
        assert_eq!(check(&utf16le("sku\tname\r\nA-1\tCafé\r\n", true), None), Ok(()));
    }

    #[test]
    fn windows_1252_is_refused_naming_the_encoding_unless_it_is_named() {
        let file = b"sku;name;description\nA-1;Caf\xe9 cr\xe8me;Cr\xe8me br\xfbl\xe9e, \x80 5\n";
        assert_eq!(
            check(file, None),
            Err("the file is not a CSV text file: it is not UTF-8 text, and looks like \
                 windows-1252 (Excel on Windows saves CSV so); upload it again with the encoding \
                 windows-1252, or save it as CSV UTF-8"
                .to_owned())
        );
        assert_eq!(check(file, Some("windows-1252")), Ok(()));
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_named() {
        assert_eq!(
            check(&utf16le("sku,name\r\nA-1,Widget\r\n", false), None),
            Err("the file is not a CSV text file: it looks like UTF-16LE text without a \
                 byte-order mark; upload it again with the encoding utf-16le, or save it as CSV UTF-8"
                .to_owned())
        );
        assert_eq!(check(&utf16le("sku,name\r\nA-1,Widget\r\n", false), Some("utf-16le")), Ok(()));
    }

    #[test]
    fn workbooks_and_other_binary_files_are_named() {
        let xlsx = check(b"PK\x03\x04\x14\x00\x06\x00", None).unwrap_err();
        assert!(xlsx.contains("it is a ZIP archive, as Excel workbooks (.xlsx) are"), "{xlsx}");
        let xls = check(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0], None).unwrap_err();
        assert!(xls.contains("Excel 97-2003 workbook (.xls)"), "{xls}");
        let pdf = check(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", Some("gbk")).unwrap_err();
        assert!(pdf.contains("it is a PDF document"), "{pdf}");
        let binary = check(b"\x7fELF\x02\x01\x01\x00\x00\x00", None).unwrap_err();
        assert!(binary.contains("it contains NUL bytes, as binary files do"), "{binary}");
    }

    #[test]
    fn bytes_the_named_encoding_cannot_read_are_refused_with_their_position() {
        // Shift_JIS: 0x81 must be followed by a trail byte; 0x0A is not one.
        assert_eq!(
            check(b"sku\nA\x81\n", Some("shift_jis")),
            Err("the file is not a CSV text file: it is not Shift_JIS text (byte 6 cannot be \
                 read in that encoding); check the encoding, or save it as CSV UTF-8"
                .to_owned())
        );
    }

    #[test]
    fn an_empty_body_is_refused() {
        assert_eq!(
            check(b"", None),
            Err("the file is empty; upload a CSV file with a header row".to_owned())
        );
    }

    #[test]
    fn a_character_cut_by_the_prefix_is_not_held_against_the_file() {
        let cut = &"é".as_bytes()[..1];
        let mut bytes = b"name\n".to_vec();
        bytes.extend_from_slice(cut);
        let partial = Prefix { bytes: Bytes::from(bytes.clone()), complete: false };
        assert!(check_text(&partial, None).is_ok());
        let whole = Prefix { bytes: Bytes::from(bytes), complete: true };
        assert!(check_text(&whole, None).is_err());
    }
}
