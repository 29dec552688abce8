//! Figures of several runs: median, min and max, printed as Markdown tables.

/// One figure measured once per run.
#[derive(Debug, Clone, Default)]
pub struct Series(Vec<f64>);

impl Series {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut values = self.0.clone();
        values.sort_by(f64::total_cmp);
        values
    }

    /// The median (the mean of the middle two for an even count).
    pub fn median(&self) -> f64 {
        let values = self.sorted();
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }

    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank: the smallest value at least
    /// `p` % of the values are not above.
    pub fn percentile(&self, p: f64) -> f64 {
        let values = self.sorted();
        if values.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    }

    /// `median (min–max)`, each written by `format`.
    pub fn summary(&self, format: fn(f64) -> String) -> String {
        let values = self.sorted();
        match (values.first(), values.last()) {
            (Some(min), Some(max)) if values.len() > 1 => {
                format!("{} ({}–{})", format(self.median()), format(*min), format(*max))
            }
            (Some(only), _) => format(*only),
            _ => "not measured".to_owned(),
        }
    }
}

/// A whole number with thousands separators: 163934.4 → "163,934".
pub fn whole(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 { format!("-{grouped}") } else { grouped }
}

/// Two decimals: a ratio or a number of cores.
pub fn hundredths(value: f64) -> String {
    format!("{value:.2}")
}

/// One decimal: seconds or MiB.
pub fn tenths(value: f64) -> String {
    format!("{value:.1}")
}

/// A Markdown table of `header` and `rows`.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut text = line(header.iter().map(|cell| (*cell).to_owned()).collect());
    text.push_str(&line(header.iter().map(|_| "---".to_owned()).collect()));
    for row in rows {
        text.push_str(&line(row.clone()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        let series = |values: &[f64]| Series(values.to_vec());
        assert_eq!(series(&[3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(series(&[4.0, 1.0, 3.0, 2.0]).median(), 2.5);
        assert_eq!(series(&[3.0, 9.0, 1.0]).summary(tenths), "3.0 (1.0–9.0)");
        assert_eq!(series(&[7.0]).summary(tenths), "7.0");
        assert_eq!(series(&[]).summary(tenths), "not measured");
    }

    #[test]
    fn whole_numbers_are_grouped_by_thousands() {
        assert_eq!(whole(163_934.4), "163,934");
        assert_eq!(whole(999.6), "1,000");
        assert_eq!(whole(12.0), "12");
        assert_eq!(whole(1_000_000.0), "1,000,000");
    }
}
