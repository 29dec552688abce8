//! Counts, durations with their unit in the variable's name, and sizes in bytes.

use std::time::Duration;

use crate::Setting;

/// A whole number from `MIN` to `MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Count<MIN, MAX> {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text.parse::<u64>() {
            Ok(number) if (MIN..=MAX).contains(&number) => Ok(Self(number)),
            _ => Err(String::new()),
        }
    }
}

impl<const MIN: u64, const MAX: u64> Setting for Count<MIN, MAX> {
    fn allowed() -> String {
        format!("a whole number from {MIN} to {MAX}")
    }

    fn show(&self) -> String {
        self.0.to_string()
    }
}

crate::deserialize_by_parse!(Count<MIN, MAX>, const MIN: u64, const MAX: u64);

/// A whole number of seconds from `MIN` to `MAX` (the variable's name ends `_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Seconds<MIN, MAX> {
    /// The duration.
    pub fn get(self) -> Duration {
        Duration::from_secs(self.0)
    }

    fn parse(text: &str) -> Result<Self, String> {
        Count::<MIN, MAX>::parse(text).map(|count| Self(count.get()))
    }
}

impl<const MIN: u64, const MAX: u64> Setting for Seconds<MIN, MAX> {
    fn allowed() -> String {
        format!("a whole number of seconds from {MIN} to {MAX}")
    }

    fn show(&self) -> String {
        self.0.to_string()
    }
}

crate::deserialize_by_parse!(Seconds<MIN, MAX>, const MIN: u64, const MAX: u64);

/// A whole number of milliseconds from `MIN` to `MAX` (the name ends `_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Millis<MIN, MAX> {
    /// The duration.
    pub fn get(self) -> Duration {
        Duration::from_millis(self.0)
    }

    fn parse(text: &str) -> Result<Self, String> {
        Count::<MIN, MAX>::parse(text).map(|count| Self(count.get()))
    }
}

impl<const MIN: u64, const MAX: u64> Setting for Millis<MIN, MAX> {
    fn allowed() -> String {
        format!("a whole number of milliseconds from {MIN} to {MAX}")
    }

    fn show(&self) -> String {
        self.0.to_string()
    }
}

crate::deserialize_by_parse!(Millis<MIN, MAX>, const MIN: u64, const MAX: u64);

/// A positive number of bytes, plain or with a binary unit (the name ends `_BYTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(u64);

impl Size {
    /// The number of bytes.
    pub fn get(self) -> u64 {
        self.0
    }

    fn parse(text: &str) -> Result<Self, String> {
        let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(String::new()),
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|number| number.checked_mul(multiplier))
            .filter(|bytes| *bytes > 0)
            .map(Self)
            .ok_or_else(String::new)
    }
}

impl Setting for Size {
    fn allowed() -> String {
        "a positive number of bytes such as 1073741824, or with a unit: 512KiB, 100MiB, 1GiB"
            .to_owned()
    }

    fn show(&self) -> String {
        self.0.to_string()
    }
}

crate::deserialize_by_parse!(Size);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_keep_to_their_range() {
        assert_eq!(Count::<1, 100>::parse("100"), Ok(Count(100)));
        for bad in ["0", "101", "-1", "1.5", "ten"] {
            assert!(Count::<1, 100>::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Seconds::<0, 3600>::parse("0").map(Seconds::get), Ok(Duration::ZERO));
        assert_eq!(Millis::<1, 10>::parse("7").map(Millis::get), Ok(Duration::from_millis(7)));
    }

    #[test]
    fn sizes_accept_plain_bytes_and_binary_units() {
        let bytes = |text| Size::parse(text).map(Size::get).ok();
        assert_eq!(bytes("1073741824"), Some(1 << 30));
        assert_eq!(bytes("512KiB"), Some(512 << 10));
        assert_eq!(bytes("100 MiB"), Some(100 << 20));
        assert_eq!(bytes("1GiB"), Some(1 << 30));
        for bad in ["0", "-1", "1.5GiB", "10MB", "lots", "99999999999999999999"] {
            assert_eq!(bytes(bad), None, "{bad}");
        }
    }
}
