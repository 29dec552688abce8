//! The registry's configuration: one typed struct, read once from the environment.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::stall_detector::StallSettings;

/// Where the registry's database is unless `BGJOBS_DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/bgjobs";
/// Where NATS is unless `BGJOBS_NATS_URL` says otherwise.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// Where gRPC is served unless `BGJOBS_REGISTRY_GRPC_ADDR` says otherwise.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
/// The durable JetStream consumer's name unless `BGJOBS_REGISTRY_CONSUMER` says otherwise.
pub const DEFAULT_CONSUMER: &str = "jobs-registry";

/// How long work in flight may take after SIGTERM, unless configured.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// The longest prefix or consumer name accepted: both end up in NATS and RabbitMQ names.
const MAX_NAME_LENGTH: usize = 64;

/// Everything the registry needs to know to start.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Postgres URL of the bgjobs database (`BGJOBS_DATABASE_URL`); created when missing.
    pub database_url: String,
    /// How the database connections behave (`BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS`).
    pub store: bgjobs_database::Settings,
    /// NATS server URL (`BGJOBS_NATS_URL`).
    pub nats_url: String,
    /// Prefix of every broker name (`BGJOBS_PREFIX`), so that tests can share a broker.
    pub prefix: String,
    /// Address the gRPC server binds (`BGJOBS_REGISTRY_GRPC_ADDR`); port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// Name of the durable JetStream consumer the registry reads events from
    /// (`BGJOBS_REGISTRY_CONSUMER`); replicas sharing it share the work.
    pub consumer: String,
    /// When a running job counts as stalled and how often it is requeued
    /// (`BGJOBS_STALL_THRESHOLD_SECS`, `BGJOBS_MAX_ATTEMPTS`).
    pub stalls: StallSettings,
    /// How long requests and event applications in flight may take after SIGTERM
    /// (`BGJOBS_SHUTDOWN_GRACE_SECS`, 0 to 3,600; default 25, below Kubernetes' 30 s).
    pub shutdown_grace: Duration,
}

/// A configuration value that cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct Error {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get`, which returns a variable's value if it is set;
    /// an unset or empty variable takes its default.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let read = |variable: &'static str, default: &str| {
            get(variable)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };

        let database_url = read("BGJOBS_DATABASE_URL", DEFAULT_DATABASE_URL);
        check_database_url(&database_url)
            .map_err(|problem| Error { variable: "BGJOBS_DATABASE_URL", problem })?;

        let nats_url = read("BGJOBS_NATS_URL", DEFAULT_NATS_URL);
        check_nats_url(&nats_url)
            .map_err(|problem| Error { variable: "BGJOBS_NATS_URL", problem })?;

        let prefix = read("BGJOBS_PREFIX", "");
        check_prefix(&prefix).map_err(|problem| Error { variable: "BGJOBS_PREFIX", problem })?;

        let grpc_addr_text = read("BGJOBS_REGISTRY_GRPC_ADDR", DEFAULT_GRPC_ADDR);
        let grpc_addr = grpc_addr_text.parse().map_err(|_| Error {
            variable: "BGJOBS_REGISTRY_GRPC_ADDR",
            problem: format!(
                "'{grpc_addr_text}' is not an address; use IP:PORT such as 0.0.0.0:50051 or [::]:50051"
            ),
        })?;

        let consumer = read("BGJOBS_REGISTRY_CONSUMER", DEFAULT_CONSUMER);
        check_name(&consumer)
            .map_err(|problem| Error { variable: "BGJOBS_REGISTRY_CONSUMER", problem })?;

        let grace_text = read("BGJOBS_SHUTDOWN_GRACE_SECS", "25");
        let shutdown_grace = grace_text
            .parse::<u64>()
            .ok()
            .filter(|seconds| *seconds <= 3_600)
            .map(Duration::from_secs)
            .ok_or_else(|| Error {
                variable: "BGJOBS_SHUTDOWN_GRACE_SECS",
                problem: format!("'{grace_text}' is not a whole number of seconds from 0 to 3600"),
            })?;

        let stalls = StallSettings::from_lookup(&get)?;
        let store = bgjobs_database::Settings::from_lookup(&get)
            .map_err(|error| Error { variable: error.variable, problem: error.problem })?;

        Ok(Self {
            database_url,
            store,
            nats_url,
            prefix,
            grpc_addr,
            consumer,
            stalls,
            shutdown_grace,
        })
    }
}

impl Default for Settings {
    /// The local stack's addresses, as with an empty environment.
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            store: bgjobs_database::Settings::default(),
            nats_url: DEFAULT_NATS_URL.to_owned(),
            prefix: String::new(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            consumer: DEFAULT_CONSUMER.to_owned(),
            stalls: StallSettings::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Settings are logged at start-up; URLs may carry passwords.
        f.debug_struct("Settings")
            .field("database_url", &redact_password(&self.database_url))
            .field("nats_url", &redact_password(&self.nats_url))
            .field("prefix", &self.prefix)
            .field("grpc_addr", &self.grpc_addr)
            .field("consumer", &self.consumer)
            .field("stalls", &self.stalls)
            .field("store", &self.store)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

fn check_database_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Err(format!(
            "'{}' is not a Postgres URL; use postgres://USER[:PASSWORD]@HOST:PORT/DATABASE",
            redact_password(url)
        ));
    };
    let database = rest.split_once('/').map(|(_, path)| path.split('?').next().unwrap_or(""));
    match database {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err(format!(
            "'{}' names no database; add one, as in postgres://postgres@127.0.0.1:5432/bgjobs",
            redact_password(url)
        )),
    }
}

fn check_nats_url(url: &str) -> Result<(), String> {
    let known_scheme = ["nats://", "tls://"].iter().any(|scheme| url.starts_with(scheme));
    let has_host = url.split_once("://").is_some_and(|(_, rest)| !rest.is_empty());
    if known_scheme && has_host {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a NATS URL; use nats://HOST:PORT such as {DEFAULT_NATS_URL}",
            redact_password(url)
        ))
    }
}

/// The prefix is put verbatim in front of subjects and queue names ("t1a2b." gives
/// "t1a2b.bgjobs.events.>"), so it may hold '.' separators but no wildcards, spaces or
/// empty subject tokens.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let valid_chars =
        prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let valid_tokens = !prefix.starts_with('.') && !prefix.contains("..");
    if valid_chars && valid_tokens && prefix.len() <= MAX_NAME_LENGTH {
        Ok(())
    } else {
        Err(format!(
            "'{prefix}' is not a valid prefix; use at most {MAX_NAME_LENGTH} letters, digits, \
             '-', '_' and single '.' separators, such as 't1a2b.'"
        ))
    }
}

/// A durable consumer name may not contain '.', '*', '>' or spaces, which have meaning
/// in NATS subjects.
fn check_name(name: &str) -> Result<(), String> {
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid_chars && name.len() <= MAX_NAME_LENGTH {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid name; use at most {MAX_NAME_LENGTH} letters, digits, '-' or '_'"
        ))
    }
}

/// `scheme://user:secret@host/...` as `scheme://user:***@host/...`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(variables: &[(&str, &str)]) -> Result<Settings, Error> {
        let variables: HashMap<String, String> =
            variables.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        Settings::from_lookup(|name| variables.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_points_at_the_local_stack() {
        assert_eq!(settings(&[]), Ok(Settings::default()));
    }

    #[test]
    fn every_variable_is_read() {
        let read = settings(&[
            ("BGJOBS_DATABASE_URL", "postgresql://app:pw@db:5432/jobs?sslmode=require"),
            ("BGJOBS_NATS_URL", "tls://nats:4222"),
            ("BGJOBS_PREFIX", "t1a2b."),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "0.0.0.0:0"),
            ("BGJOBS_REGISTRY_CONSUMER", "registry-2"),
        ])
        .expect("valid settings");
        assert_eq!(read.database_url, "postgresql://app:pw@db:5432/jobs?sslmode=require");
        assert_eq!(read.nats_url, "tls://nats:4222");
        assert_eq!(read.prefix, "t1a2b.");
        assert_eq!(read.grpc_addr, SocketAddr::from(([0, 0, 0, 0], 0)));
        assert_eq!(read.consumer, "registry-2");
    }

    #[test]
    fn empty_values_take_the_default() {
        assert_eq!(settings(&[("BGJOBS_NATS_URL", " ")]), Ok(Settings::default()));
    }

    #[test]
    fn each_bad_value_is_named_with_what_to_do() {
        let cases = [
            ("BGJOBS_DATABASE_URL", "mysql://db/jobs", "is not a Postgres URL"),
            ("BGJOBS_DATABASE_URL", "postgres://db:5432", "names no database"),
            ("BGJOBS_NATS_URL", "http://nats", "is not a NATS URL"),
            ("BGJOBS_PREFIX", "a..b", "is not a valid prefix"),
            ("BGJOBS_PREFIX", "t1.*", "is not a valid prefix"),
            ("BGJOBS_REGISTRY_CONSUMER", "jobs.registry", "is not a valid name"),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "localhost:50051", "is not an address"),
            ("BGJOBS_REGISTRY_CONSUMER", "jobs registry", "is not a valid name"),
        ];
        for (variable, value, expected) in cases {
            let error = settings(&[(variable, value)]).expect_err(value);
            assert_eq!(error.variable, variable);
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn passwords_never_reach_messages_or_debug_output() {
        let error = settings(&[("BGJOBS_DATABASE_URL", "mysql://app:hunter2@db/jobs")])
            .expect_err("not postgres");
        assert!(!error.to_string().contains("hunter2"), "{error}");

        let read = settings(&[("BGJOBS_DATABASE_URL", "postgres://app:hunter2@db/jobs")])
            .expect("valid settings");
        let debug = format!("{read:?}");
        assert!(!debug.contains("hunter2") && debug.contains("app:***@db/jobs"), "{debug}");
    }
}
