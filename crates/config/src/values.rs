//! The types settings have: each parses its text, says in words what is allowed
//! and prints itself with secrets hidden.

mod numbers;
mod text;
mod urls;

pub use numbers::{Count, Millis, Seconds, Size};
pub use text::{Flag, Name, Prefix, Secret};
pub use urls::{
    AmqpUrl, HttpUrl, NatsUrl, PostgresUrl, ServerUrl, SmtpUrl, UrlKind, redact_password,
};

/// A type a setting can have.
pub trait Setting: Sized {
    /// Whether a value must never be printed.
    const SECRET: bool = false;

    /// What values are allowed, in words ("a whole number from 1 to 100").
    fn allowed() -> String;

    /// The value as `--print-config` prints it: as it would be set, secrets redacted.
    fn show(&self) -> String;

    /// A value in text as it may be printed in a message.
    fn redact(text: &str) -> String {
        if Self::SECRET { "<redacted>".to_owned() } else { text.to_owned() }
    }
}

impl<T: Setting> Setting for Option<T> {
    const SECRET: bool = T::SECRET;

    fn allowed() -> String {
        T::allowed()
    }

    fn show(&self) -> String {
        self.as_ref().map(Setting::show).unwrap_or_default()
    }

    fn redact(text: &str) -> String {
        T::redact(text)
    }
}

impl Setting for String {
    fn allowed() -> String {
        "any text".to_owned()
    }

    fn show(&self) -> String {
        self.clone()
    }
}

impl Setting for std::net::SocketAddr {
    fn allowed() -> String {
        "an IP address and port such as 0.0.0.0:8080 or [::]:8080 (port 0 picks a free port)"
            .to_owned()
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl Setting for std::path::PathBuf {
    fn allowed() -> String {
        "a file path".to_owned()
    }

    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// Implements `Deserialize` for a setting type through its `parse(&str)`, whose
/// error (possibly empty) says what exactly is wrong.
#[macro_export]
#[doc(hidden)]
macro_rules! deserialize_by_parse {
    ($type:ty $(, const $constant:ident: $constant_type:ty)*) => {
        impl<'de, $(const $constant: $constant_type),*> $crate::__private::serde::Deserialize<'de>
            for $type
        {
            fn deserialize<D>(deserializer: D) -> ::std::result::Result<Self, D::Error>
            where
                D: $crate::__private::serde::Deserializer<'de>,
            {
                let text = <::std::string::String as $crate::__private::serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                Self::parse(&text).map_err(<D::Error as $crate::__private::serde::de::Error>::custom)
            }
        }

        impl<$(const $constant: $constant_type),*> ::std::str::FromStr for $type {
            type Err = ::std::string::String;

            fn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::parse(text)
            }
        }
    };
}
