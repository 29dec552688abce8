//! The configuration of ingest, read once from the environment and validated at start-up.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Default HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8081";
/// Default gRPC listen address (the Ingest service: RetryJob).
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50052";
/// Default age of a New job without a confirmed message before it is published again.
pub const DEFAULT_REPUBLISH_AFTER_SECS: u64 = 30;
/// Default URL of the jobs-registry gRPC server.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:50051";
/// Default RabbitMQ URL: the local stack's broker, default vhost.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Default largest upload: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1024 * 1024 * 1024;
/// Default number of deliveries of a job message before it is dead-lettered.
pub const DEFAULT_DELIVERY_LIMIT: u32 = 5;
/// How long requests in flight may take after SIGTERM, unless configured.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Why the configuration is not usable; each message names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable of ingest itself has a bad value.
    #[error("{variable} '{value}' is not valid: {expected}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// The value it had (never a secret).
        value: String,
        /// What a good value looks like.
        expected: &'static str,
    },
    /// The object storage variables are not usable.
    #[error(transparent)]
    Storage(#[from] bgjobs_object_store::Error),
}

/// Everything ingest needs to run.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the HTTP server listens (`BGJOBS_INGEST_HTTP_ADDR`); port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// Where the gRPC server listens (`BGJOBS_INGEST_GRPC_ADDR`); port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// How long a New job may wait without a confirmed message before the sweeper
    /// publishes it again (`BGJOBS_REPUBLISH_AFTER_SECS`, 1 to 86400).
    pub republish_after: Duration,
    /// The jobs-registry gRPC endpoint (`BGJOBS_REGISTRY_URL`).
    pub registry_url: String,
    /// The RabbitMQ URL (`BGJOBS_AMQP_URL`); it may hold a password, so it is never printed.
    pub amqp_url: String,
    /// Prefix of every exchange and queue name (`BGJOBS_PREFIX`), so tests can share a broker.
    pub prefix: String,
    /// Largest accepted upload in bytes (`BGJOBS_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: u64,
    /// Deliveries of a job message before it is dead-lettered (`BGJOBS_DELIVERY_LIMIT`).
    pub delivery_limit: u32,
    /// The object store of input files (`BGJOBS_S3_*`, `AWS_*`).
    pub storage: bgjobs_object_store::Settings,
    /// How long requests in flight may take after SIGTERM (`BGJOBS_SHUTDOWN_GRACE_SECS`,
    /// 0 to 3,600; default 25, below Kubernetes' 30 s before it kills the pod).
    pub shutdown_grace: Duration,
}

impl Settings {
    /// Reads the process environment; see [`Settings::from_lookup`].
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every variable through `get` (so tests need not touch the process
    /// environment); an unset or empty variable takes its default.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let read = |name: &str| get(name).map(|value| value.trim().to_owned());
        let read_or = |name: &str, default: &str| {
            read(name).filter(|value| !value.is_empty()).unwrap_or_else(|| default.to_owned())
        };

        let http_addr_text = read_or("BGJOBS_INGEST_HTTP_ADDR", DEFAULT_HTTP_ADDR);
        let http_addr = http_addr_text.parse().map_err(|_| Error::Invalid {
            variable: "BGJOBS_INGEST_HTTP_ADDR",
            value: http_addr_text.clone(),
            expected: "an address and port such as 127.0.0.1:8081 or 0.0.0.0:8081",
        })?;

        let grpc_addr_text = read_or("BGJOBS_INGEST_GRPC_ADDR", DEFAULT_GRPC_ADDR);
        let grpc_addr = grpc_addr_text.parse().map_err(|_| Error::Invalid {
            variable: "BGJOBS_INGEST_GRPC_ADDR",
            value: grpc_addr_text.clone(),
            expected: "an address and port such as 127.0.0.1:50052 or 0.0.0.0:50052",
        })?;

        let republish_after = match read("BGJOBS_REPUBLISH_AFTER_SECS").filter(|v| !v.is_empty()) {
            None => DEFAULT_REPUBLISH_AFTER_SECS,
            Some(text) => text.parse().ok().filter(|secs| (1..=86_400).contains(secs)).ok_or(
                Error::Invalid {
                    variable: "BGJOBS_REPUBLISH_AFTER_SECS",
                    value: text,
                    expected: "a whole number of seconds from 1 to 86400",
                },
            )?,
        };

        let registry_url = read_or("BGJOBS_REGISTRY_URL", DEFAULT_REGISTRY_URL);
        if !(registry_url.starts_with("http://") || registry_url.starts_with("https://")) {
            return Err(Error::Invalid {
                variable: "BGJOBS_REGISTRY_URL",
                value: registry_url,
                expected: "an http:// or https:// URL such as http://127.0.0.1:50051",
            });
        }

        let amqp_url = read_or("BGJOBS_AMQP_URL", DEFAULT_AMQP_URL);
        if !(amqp_url.starts_with("amqp://") || amqp_url.starts_with("amqps://")) {
            return Err(Error::Invalid {
                variable: "BGJOBS_AMQP_URL",
                value: redact_password(&amqp_url),
                expected: "an amqp:// or amqps:// URL such as amqp://guest:guest@127.0.0.1:5672/%2f",
            });
        }

        let prefix = read("BGJOBS_PREFIX").unwrap_or_default();
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(Error::Invalid {
                variable: "BGJOBS_PREFIX",
                value: prefix,
                expected: "letters, digits, '-', '_' and '.' only",
            });
        }

        let max_upload_bytes = match read("BGJOBS_MAX_UPLOAD_BYTES").filter(|v| !v.is_empty()) {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(text) => parse_size(&text).ok_or(Error::Invalid {
                variable: "BGJOBS_MAX_UPLOAD_BYTES",
                value: text,
                expected: "a positive number of bytes such as 1073741824, or with a unit: 512KiB, 100MiB, 1GiB",
            })?,
        };

        let delivery_limit = match read("BGJOBS_DELIVERY_LIMIT").filter(|v| !v.is_empty()) {
            None => DEFAULT_DELIVERY_LIMIT,
            Some(text) => text.parse().ok().filter(|limit| *limit >= 1).ok_or(Error::Invalid {
                variable: "BGJOBS_DELIVERY_LIMIT",
                value: text,
                expected: "a whole number of deliveries, at least 1",
            })?,
        };

        let shutdown_grace = match read("BGJOBS_SHUTDOWN_GRACE_SECS").filter(|v| !v.is_empty()) {
            None => DEFAULT_SHUTDOWN_GRACE,
            Some(text) => text
                .parse()
                .ok()
                .filter(|seconds| *seconds <= 3_600)
                .map(Duration::from_secs)
                .ok_or(Error::Invalid {
                    variable: "BGJOBS_SHUTDOWN_GRACE_SECS",
                    value: text,
                    expected: "a whole number of seconds from 0 to 3600",
                })?,
        };

        Ok(Self {
            http_addr,
            grpc_addr,
            republish_after: Duration::from_secs(republish_after),
            registry_url,
            amqp_url,
            prefix,
            max_upload_bytes,
            delivery_limit,
            storage: bgjobs_object_store::Settings::from_lookup(get)?,
            shutdown_grace,
        })
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("http_addr", &self.http_addr)
            .field("grpc_addr", &self.grpc_addr)
            .field("republish_after", &self.republish_after)
            .field("registry_url", &self.registry_url)
            .field("amqp_url", &redact_password(&self.amqp_url))
            .field("prefix", &self.prefix)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("delivery_limit", &self.delivery_limit)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("storage", &self.storage)
            .finish()
    }
}

/// `amqp://user:secret@host/` → `amqp://user:<redacted>@host/`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

/// "1073741824", "512KiB", "100 MiB", "1GiB" → bytes; `None` for zero, overflow or nonsense.
fn parse_size(text: &str) -> Option<u64> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(multiplier).filter(|bytes| *bytes > 0)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings_from(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = settings_from(&[]).expect("defaults are valid");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(settings.grpc_addr.to_string(), "127.0.0.1:50052");
        assert_eq!(settings.republish_after, Duration::from_secs(30));
        assert_eq!(settings.registry_url, DEFAULT_REGISTRY_URL);
        assert_eq!(settings.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(settings.prefix, "");
        assert_eq!(settings.max_upload_bytes, 1_073_741_824);
        assert_eq!(settings.delivery_limit, 5);
        assert_eq!(settings.storage.bucket, "bgjobs");
    }

    #[test]
    fn variables_override_the_defaults() {
        let settings = settings_from(&[
            ("BGJOBS_INGEST_HTTP_ADDR", "0.0.0.0:0"),
            ("BGJOBS_REGISTRY_URL", "http://registry:50051"),
            ("BGJOBS_AMQP_URL", "amqps://user:pw@broker:5671/jobs"),
            ("BGJOBS_PREFIX", "t-1234."),
            ("BGJOBS_MAX_UPLOAD_BYTES", "1024"),
            ("BGJOBS_DELIVERY_LIMIT", "3"),
            ("BGJOBS_S3_BUCKET", "bgjobs-t-abc"),
        ])
        .expect("valid settings");
        assert_eq!(settings.http_addr.port(), 0);
        assert_eq!(settings.registry_url, "http://registry:50051");
        assert_eq!(settings.prefix, "t-1234.");
        assert_eq!(settings.max_upload_bytes, 1024);
        assert_eq!(settings.delivery_limit, 3);
        assert_eq!(settings.storage.bucket, "bgjobs-t-abc");
    }

    #[test]
    fn upload_limits_accept_plain_bytes_and_binary_units() {
        assert_eq!(parse_size("1073741824"), Some(1 << 30));
        assert_eq!(parse_size("512KiB"), Some(512 * 1024));
        assert_eq!(parse_size("100 MiB"), Some(100 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        for bad in ["0", "-1", "1.5GiB", "10MB", "lots", "99999999999999999999"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        for (variable, value) in [
            ("BGJOBS_INGEST_HTTP_ADDR", "localhost"),
            ("BGJOBS_INGEST_GRPC_ADDR", "ingest:50052"),
            ("BGJOBS_REPUBLISH_AFTER_SECS", "0"),
            ("BGJOBS_REGISTRY_URL", "127.0.0.1:50051"),
            ("BGJOBS_AMQP_URL", "http://broker"),
            ("BGJOBS_PREFIX", "a b"),
            ("BGJOBS_MAX_UPLOAD_BYTES", "0"),
            ("BGJOBS_DELIVERY_LIMIT", "0"),
            ("BGJOBS_S3_BUCKET", "No_Such"),
        ] {
            let message = settings_from(&[(variable, value)]).expect_err(variable).to_string();
            assert!(message.contains(variable), "{variable}: {message}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_broker_password() {
        let settings = settings_from(&[("BGJOBS_AMQP_URL", "amqp://jobs:hunter2@broker:5672/%2f")])
            .expect("valid settings");
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("amqp://jobs:<redacted>@broker:5672/%2f"), "{printed}");
    }
}
