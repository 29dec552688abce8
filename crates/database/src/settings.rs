//! How the store's connections behave, read once at start-up.

use std::time::Duration;

/// The variable that sets [`Settings::idle_in_transaction_timeout`].
pub const IDLE_IN_TRANSACTION_TIMEOUT_VARIABLE: &str = "BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS";
/// The default of [`Settings::idle_in_transaction_timeout`].
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest idle-in-transaction timeout accepted, in seconds.
const MAX_IDLE_IN_TRANSACTION_TIMEOUT_SECS: u64 = 3_600;

/// Connection settings of a [`Store`](crate::Store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a session may sit inside an open transaction without sending a
    /// statement before Postgres ends it (`idle_in_transaction_session_timeout`).
    ///
    /// The store's transactions never wait on anything but Postgres, so only a frozen
    /// or hung process stays idle in one; ending its session releases the job row's
    /// fencing share lock, which would otherwise block the registry's event applier
    /// and stall recovery for as long as the process stays frozen.
    pub idle_in_transaction_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { idle_in_transaction_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT }
    }
}

/// A store setting whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct InvalidSetting {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

impl Settings {
    /// Reads `BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS` (1 to 3,600; default 10)
    /// through `get`; unset or empty takes the default.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidSetting> {
        let variable = IDLE_IN_TRANSACTION_TIMEOUT_VARIABLE;
        let Some(value) = get(variable).map(|value| value.trim().to_owned()) else {
            return Ok(Self::default());
        };
        if value.is_empty() {
            return Ok(Self::default());
        }
        let seconds = value
            .parse::<u64>()
            .ok()
            .filter(|seconds| (1..=MAX_IDLE_IN_TRANSACTION_TIMEOUT_SECS).contains(seconds))
            .ok_or_else(|| InvalidSetting {
                variable,
                problem: format!(
                    "'{value}' is not a whole number of seconds from 1 to \
                     {MAX_IDLE_IN_TRANSACTION_TIMEOUT_SECS}"
                ),
            })?;
        Ok(Self { idle_in_transaction_timeout: Duration::from_secs(seconds) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_takes_ten_seconds() {
        assert_eq!(Settings::from_lookup(|_| None), Ok(Settings::default()));
        assert_eq!(Settings::from_lookup(|_| Some(" ".to_owned())), Ok(Settings::default()));
        assert_eq!(Settings::default().idle_in_transaction_timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_value_is_read_in_seconds_and_zero_is_refused() {
        let read = |value: &'static str| Settings::from_lookup(move |_| Some(value.to_owned()));
        assert_eq!(read("3").map(|s| s.idle_in_transaction_timeout), Ok(Duration::from_secs(3)));
        let refused = read("0").expect_err("0 would switch the timeout off");
        assert_eq!(
            refused.to_string(),
            "BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS: '0' is not a whole number of seconds from 1 to 3600"
        );
        assert!(read("ten").is_err());
    }
}
