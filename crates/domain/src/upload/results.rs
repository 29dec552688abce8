//! Results files: what users download and open in a spreadsheet.

/// The header line of every results file.
pub const HEADER: [&str; 4] = ["row", "key", "outcome", "reason"];

/// Neutralises a cell a spreadsheet would run as a formula (docs/architecture.md, "Processing
/// rules"): a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
/// apostrophe, which spreadsheets show as text. Every other cell is unchanged.
pub fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
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
        for harmless in ["SKU-1", "", "a=b", "12"] {
            assert_eq!(safe_cell(harmless), harmless);
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(998), "998");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
