//! Results files: what users download and open in a spreadsheet.

use std::borrow::Cow;

use super::characters::shown;

/// The header line of every results file.
pub const HEADER: [&str; 4] = ["row", "key", "outcome", "reason"];

/// The longest key a results file echoes, in characters; a longer one is cut to this
/// length, its last character an ellipsis (`…`). Keys that are valid are far shorter
/// (64 characters at most); only a rejected row's key can be this long.
pub const MAX_KEY_CHARS: usize = 256;

/// The longest reason a results file gives, in characters, cut like a key: a reason
/// may quote the row's values, which the reader bounds only at the field limit.
pub const MAX_REASON_CHARS: usize = 2000;

/// What a spreadsheet runs as a formula when a cell begins with it.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Characters after which some spreadsheet may start a new cell: the separators of
/// every locale (`,`, `;`, tab) and line breaks, for one that splits a quoted cell.
const CELL_BREAKS: [char; 5] = [',', ';', '\t', '\r', '\n'];

/// Neutralises a cell a spreadsheet would run as a formula (docs/architecture.md,
/// "Processing rules"). Results files quote every cell, but a spreadsheet set to
/// another separator (`;` in many European locales) or one that ignores the quotes
/// splits a cell at its `,`, `;`, tabs and line breaks: so wherever a cell could begin
/// — at its start, and after each of those characters — and what follows (past spaces
/// and quotes) begins with `=`, `+`, `-`, `@`, a tab or a carriage return, an
/// apostrophe is put in, which spreadsheets show as text. Every other cell is
/// unchanged.
pub fn safe_cell(cell: &str) -> Cow<'_, str> {
    let runs_as_formula =
        |rest: &str| rest.trim_start_matches([' ', '"']).starts_with(FORMULA_STARTS);
    let cell_starts = std::iter::once(0).chain(
        cell.char_indices()
            .filter(|(_, character)| CELL_BREAKS.contains(character))
            .map(|(at, character)| at + character.len_utf8()),
    );
    let mut safe = String::new();
    let mut copied = 0;
    for start in cell_starts {
        if runs_as_formula(&cell[start..]) {
            safe.push_str(&cell[copied..start]);
            safe.push('\'');
            copied = start;
        }
    }
    if safe.is_empty() {
        return Cow::Borrowed(cell);
    }
    safe.push_str(&cell[copied..]);
    Cow::Owned(safe)
}

/// `text` cut to at most `max_chars` characters, the last an ellipsis when it is cut.
pub fn capped(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
            Cow::Owned(kept + "…")
        }
    }
}

/// A row's key as its results line shows it: capped ([`MAX_KEY_CHARS`]), then made
/// safe ([`safe_cell`]).
pub fn key_cell(key: &str) -> String {
    safe_cell(&capped(key, MAX_KEY_CHARS)).into_owned()
}

/// A row's reason as its results line shows it: its invisible characters by code point
/// ([`shown`]: the reason quotes the user's values), capped ([`MAX_REASON_CHARS`]),
/// then made safe ([`safe_cell`]).
pub fn reason_cell(reason: &str) -> String {
    safe_cell(&capped(&shown(reason), MAX_REASON_CHARS)).into_owned()
}

/// `1234567` as `1,234,567`, for messages users read.
pub fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for dangerous in ["=SUM(A1)", "+1", "-2+3", "@cmd", "\tx", "\rx"] {
            assert_eq!(safe_cell(dangerous), format!("'{dangerous}"));
        }
        for harmless in ["SKU-1", "", "a=b", "12", "a - b", "x;y", "'=1"] {
            assert_eq!(safe_cell(harmless), harmless);
        }
    }

    #[test]
    fn a_formula_after_a_separator_or_line_break_is_neutralised_where_it_starts() {
        assert_eq!(safe_cell("x;=cmd|' /C calc'!A0"), "x;'=cmd|' /C calc'!A0");
        assert_eq!(safe_cell("a,+1"), "a,'+1");
        assert_eq!(safe_cell("a\t-2+3"), "a\t'-2+3");
        assert_eq!(safe_cell("a\n@SUM(1)"), "a\n'@SUM(1)");
        // Past spaces and quotes, as a spreadsheet reads the start of a cell.
        assert_eq!(safe_cell("a; \"=1+1\""), "a;' \"=1+1\"");
        assert_eq!(safe_cell(" =1"), "' =1");
        // Every place, the start included.
        assert_eq!(safe_cell("=1;=2,=3"), "'=1;'=2,'=3");
        // A tab is a separator and a formula start: each tab is covered.
        assert_eq!(safe_cell("\t\t"), "'\t'\t");
    }

    #[test]
    fn long_keys_and_reasons_are_cut_with_an_ellipsis() {
        let key = "K".repeat(300);
        let shown = key_cell(&key);
        assert_eq!(shown.chars().count(), MAX_KEY_CHARS);
        assert_eq!(shown, format!("{}…", "K".repeat(MAX_KEY_CHARS - 1)));
        assert_eq!(key_cell(&"K".repeat(MAX_KEY_CHARS)), "K".repeat(MAX_KEY_CHARS));
        assert_eq!(key_cell(&format!("={}", "é".repeat(400))).chars().count(), MAX_KEY_CHARS + 1);
        assert_eq!(reason_cell(&"r".repeat(5000)).chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(998), "998");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
