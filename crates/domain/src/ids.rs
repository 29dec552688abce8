//! Identifiers that can only be built valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(Uuid);

impl JobId {
    /// A fresh, time-ordered job id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for JobId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

/// Why a text is not a job id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a job id; job ids are UUIDs such as 0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b")]
pub struct InvalidJobId(String);

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text.trim()).map(Self).map_err(|_| InvalidJobId(text.to_owned()))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An account (tenant) id. It appears in NATS subjects and S3 keys, so it is
/// limited to 1-64 ASCII letters, digits, '-' and '_'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

/// Why a text is not an account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an account id; account ids are 1 to 64 letters, digits, '-' or '_'")]
pub struct InvalidAccountId(String);

impl AccountId {
    /// Checks `text` and wraps it.
    pub fn parse(text: &str) -> Result<Self, InvalidAccountId> {
        let valid_length = (1..=64).contains(&text.len());
        let valid_chars = text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid_length && valid_chars {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidAccountId(text.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<AccountId> for String {
    fn from(account: AccountId) -> Self {
        account.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_time_ordered_and_round_trip_through_text() {
        let first = JobId::new();
        let second = JobId::new();
        assert!(first < second);
        assert_eq!(first.to_string().parse::<JobId>(), Ok(first));
    }

    #[test]
    fn a_job_id_that_is_not_a_uuid_is_refused_with_an_example() {
        let error = "42".parse::<JobId>().unwrap_err();
        assert!(error.to_string().starts_with("'42' is not a job id"));
    }

    #[test]
    fn account_ids_accept_subject_and_key_safe_text_only() {
        assert!(AccountId::parse("acme-eu_1").is_ok());
        for bad in ["", "a.b", "a b", "a/b", "a*", "é", &"x".repeat(65)] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
