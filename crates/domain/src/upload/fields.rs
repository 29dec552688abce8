//! Reading one field of a row: UTF-8, whitespace, control characters and numbers,
//! each problem explained with the column it is in.

use rust_decimal::Decimal;

use super::characters::describe;

/// Decodes and normalises a text field: UTF-8 checked, surrounding whitespace
/// trimmed, control characters refused. An empty field is `None`.
pub fn text(raw: &[u8], column: &str) -> Result<Option<String>, String> {
    let decoded = std::str::from_utf8(raw).map_err(|error| {
        format!(
            "{column}: not valid UTF-8 at byte {}; save the file as UTF-8, or upload it again naming its encoding (e.g. windows-1252)",
            error.valid_up_to() + 1
        )
    })?;
    let trimmed = decoded.trim();
    if let Some((position, control)) = trimmed.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "{column}: contains {} at position {}; remove tabs, line breaks and other invisible characters",
            describe(control),
            position + 1
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// Like [`text`], but line breaks are allowed (a quoted field may span lines, as in
/// a description) and normalised to `\n`.
pub fn multiline_text(raw: &[u8], column: &str) -> Result<Option<String>, String> {
    let unified: Vec<u8> =
        String::from_utf8_lossy(raw).replace("\r\n", "\n").replace('\r', "\n").into_bytes();
    if std::str::from_utf8(raw).is_err() {
        return text(raw, column);
    }
    let lines: Result<Vec<Option<String>>, String> =
        unified.split(|&byte| byte == b'\n').map(|line| text(line, column)).collect();
    let lines = lines?;
    let joined = lines.into_iter().map(Option::unwrap_or_default).collect::<Vec<_>>().join("\n");
    let trimmed = joined.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// A text field that must be no longer than `max_chars` characters.
pub fn bounded(
    value: Option<String>,
    column: &str,
    max_chars: usize,
) -> Result<Option<String>, String> {
    match value {
        Some(text) if text.chars().count() > max_chars => Err(format!(
            "{column}: is {} characters long; the maximum is {max_chars}",
            text.chars().count()
        )),
        other => Ok(other),
    }
}

/// A decimal number within `[min, max]` with at most `max_scale` decimal places.
/// Accepts a decimal point (not a comma) and no thousands separators.
pub fn decimal(
    value: Option<&str>,
    column: &str,
    min: Decimal,
    max: Decimal,
    max_scale: u32,
) -> Result<Option<Decimal>, String> {
    let Some(text) = value else { return Ok(None) };
    let not_a_number = || {
        format!("{column}: '{text}' is not a number; use digits with a '.' for decimals, e.g. 12.5")
    };
    // Plain notation only: the decimal parser would also take "1e3", which no
    // user means as a price.
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    if !unsigned.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(not_a_number());
    }
    let number: Decimal = text.parse().map_err(|_| not_a_number())?;
    if number < min || number > max {
        return Err(format!(
            "{column}: {text} is out of range; it must be between {min} and {max}"
        ));
    }
    if number.normalize().scale() > max_scale {
        return Err(format!("{column}: {text} has too many decimal places; at most {max_scale}"));
    }
    Ok(Some(number.normalize()))
}

/// What is wrong with a row of `found` fields under a header of `expected`, if anything:
/// "the row has 1 field; the header has 3".
pub fn width_problem(found: usize, expected: usize) -> Option<String> {
    let noun = if found == 1 { "field" } else { "fields" };
    (found != expected).then(|| format!("the row has {found} {noun}; the header has {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_of_another_width_than_its_header_says_both_counts() {
        assert_eq!(width_problem(3, 3), None);
        assert_eq!(width_problem(1, 3).as_deref(), Some("the row has 1 field; the header has 3"));
        assert_eq!(width_problem(4, 3).as_deref(), Some("the row has 4 fields; the header has 3"));
    }

    #[test]
    fn text_is_trimmed_and_empty_is_none() {
        assert_eq!(text(b"  Widget \t", "name"), Ok(Some("Widget".to_owned())));
        assert_eq!(text(b"   ", "name"), Ok(None));
    }

    #[test]
    fn invalid_utf8_names_the_column_and_byte() {
        assert_eq!(
            text(b"Caf\xe9", "name"),
            Err("name: not valid UTF-8 at byte 4; save the file as UTF-8, or upload it again naming its encoding (e.g. windows-1252)".to_owned())
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            text(b"a\x07b", "description"),
            Err("description: contains U+0007 (a control character) at position 2; remove tabs, line breaks and other invisible characters".to_owned())
        );
    }

    #[test]
    fn multiline_text_keeps_line_breaks_and_still_refuses_other_controls() {
        assert_eq!(
            multiline_text(b" first\r\nsecond \n", "description"),
            Ok(Some("first\nsecond".to_owned()))
        );
        assert!(multiline_text(b"a\x07b", "description").is_err());
        assert!(multiline_text(b"Caf\xe9", "description").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn decimals_are_checked_for_shape_range_and_scale() {
        let (min, max) = (Decimal::ZERO, Decimal::from(1000));
        assert_eq!(decimal(Some("12.50"), "price", min, max, 2), Ok(Some(Decimal::new(125, 1))));
        assert_eq!(
            decimal(Some("12,5"), "price", min, max, 2),
            Err("price: '12,5' is not a number; use digits with a '.' for decimals, e.g. 12.5"
                .to_owned())
        );
        assert_eq!(
            decimal(Some("-1"), "price", min, max, 2),
            Err("price: -1 is out of range; it must be between 0 and 1000".to_owned())
        );
        assert_eq!(
            decimal(Some("1.001"), "price", min, max, 2),
            Err("price: 1.001 has too many decimal places; at most 2".to_owned())
        );
        assert_eq!(decimal(None, "price", min, max, 2), Ok(None));
    }
}
