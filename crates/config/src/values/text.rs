//! Names that end up in broker names, switches and secrets.

use std::fmt;
use std::ops::Deref;

use secrecy::{ExposeSecret, SecretString};

use crate::Setting;

/// The longest prefix or name accepted: both end up in NATS and RabbitMQ names.
const MAX_NAME_LENGTH: usize = 64;

/// The prefix put in front of every queue, exchange, stream and subject ("t1a2b."
/// gives "t1a2b.bgjobs.events.>"): '.' separators but no wildcards, spaces or empty
/// subject tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefix(String);

impl Prefix {
    fn parse(text: &str) -> Result<Self, String> {
        let valid_chars =
            text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let valid_tokens = !text.starts_with('.') && !text.contains("..");
        if valid_chars && valid_tokens && text.len() <= MAX_NAME_LENGTH {
            Ok(Self(text.to_owned()))
        } else {
            Err(String::new())
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Prefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Deref for Prefix {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Setting for Prefix {
    fn allowed() -> String {
        format!(
            "at most {MAX_NAME_LENGTH} letters, digits, '-', '_' and single '.' separators, such \
             as 't1a2b.'"
        )
    }

    fn show(&self) -> String {
        self.0.clone()
    }
}

crate::deserialize_by_parse!(Prefix);

/// A name used as one token of a NATS subject or a durable consumer's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    fn parse(text: &str) -> Result<Self, String> {
        let valid_chars = text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid_chars && text.len() <= MAX_NAME_LENGTH {
            Ok(Self(text.to_owned()))
        } else {
            Err(String::new())
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Setting for Name {
    fn allowed() -> String {
        format!("at most {MAX_NAME_LENGTH} letters, digits, '-' or '_'")
    }

    fn show(&self) -> String {
        self.0.clone()
    }
}

crate::deserialize_by_parse!(Name);

/// A switch: `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Flag {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "true" => Ok(Self(true)),
            "false" => Ok(Self(false)),
            _ => Err(String::new()),
        }
    }
}

impl Setting for Flag {
    fn allowed() -> String {
        "true or false".to_owned()
    }

    fn show(&self) -> String {
        self.0.to_string()
    }
}

crate::deserialize_by_parse!(Flag);

/// A secret of at least `MIN_LENGTH` characters, never printed.
#[derive(Clone)]
pub struct Secret<const MIN_LENGTH: usize>(SecretString);

impl<const MIN_LENGTH: usize> Secret<MIN_LENGTH> {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() >= MIN_LENGTH {
            Ok(Self(SecretString::from(text)))
        } else {
            Err("too short".to_owned())
        }
    }
}

impl<const MIN_LENGTH: usize> fmt::Debug for Secret<MIN_LENGTH> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<const MIN_LENGTH: usize> Setting for Secret<MIN_LENGTH> {
    const SECRET: bool = true;

    fn allowed() -> String {
        if MIN_LENGTH > 1 {
            format!(
                "a secret of at least {MIN_LENGTH} random characters (e.g. `openssl rand -hex \
                 {}`)",
                MIN_LENGTH.div_ceil(2)
            )
        } else {
            "a secret".to_owned()
        }
    }

    fn show(&self) -> String {
        "<redacted>".to_owned()
    }
}

crate::deserialize_by_parse!(Secret<MIN_LENGTH>, const MIN_LENGTH: usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_names_keep_to_broker_name_rules() {
        for good in ["", "t1a2b.", "bgjobs-t_1"] {
            assert!(Prefix::parse(good).is_ok(), "{good}");
        }
        for bad in ["a..b", ".a", "t1.*", "a b", &"x".repeat(65)] {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
        assert!(Name::parse("registry-2").is_ok());
        for bad in ["jobs.registry", "jobs registry", "a>"] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_secret_is_never_printed() {
        let secret = Secret::<8>::parse("hunter2-very-secret").expect("long enough");
        assert_eq!(secret.expose(), "hunter2-very-secret");
        assert!(!format!("{secret:?} {}", secret.show()).contains("hunter2"));
        assert!(Secret::<8>::parse("short").is_err());
        assert_eq!(<Secret<8> as Setting>::redact("hunter2"), "<redacted>");
    }
}
