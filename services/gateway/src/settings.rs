//! The gateway's configuration: one typed struct, read once from the environment.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Default HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default URL of the jobs-registry gRPC server.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:50051";
/// Default URL of ingest's HTTP API (uploads, deletions).
pub const DEFAULT_INGEST_URL: &str = "http://127.0.0.1:8081";
/// Default URL of ingest's gRPC API (retry).
pub const DEFAULT_INGEST_GRPC_URL: &str = "http://127.0.0.1:50052";
/// Default audience a token must name.
pub const DEFAULT_AUDIENCE: &str = "bgjobs";
/// Issuer of the demo users' tokens, and the default issuer in demo mode.
pub const DEMO_ISSUER: &str = "bgjobs-gateway-demo";
/// Default stall threshold: the registry's default, so page and recovery agree.
pub const DEFAULT_STALL_SECS: u64 = 300;

/// Where the public keys that verify tokens come from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS document fetched from this URL (and fetched again for an unknown key id).
    Jwks(String),
    /// One RSA public key, PEM-encoded.
    Pem(String),
    /// The demo users' key, generated at start (`BGJOBS_GATEWAY_DEMO_USERS=true`).
    Demo,
}

/// Everything the gateway needs to start.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the HTTP server listens (`BGJOBS_GATEWAY_HTTP_ADDR`); port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// The jobs-registry gRPC endpoint (`BGJOBS_REGISTRY_URL`).
    pub registry_url: String,
    /// Ingest's HTTP API (`BGJOBS_INGEST_URL`), where uploads and deletions are forwarded.
    pub ingest_url: String,
    /// Ingest's gRPC API (`BGJOBS_INGEST_GRPC_URL`), which retries jobs.
    pub ingest_grpc_url: String,
    /// Token keys (`BGJOBS_AUTH_JWKS_URL`, `BGJOBS_AUTH_PUBLIC_KEY_FILE` or demo users).
    pub keys: KeySource,
    /// The `iss` a token must have (`BGJOBS_AUTH_ISSUER`).
    pub issuer: String,
    /// The `aud` a token must have (`BGJOBS_AUTH_AUDIENCE`).
    pub audience: String,
    /// Key of the download links' signatures (`BGJOBS_DOWNLOAD_SECRET`); random when unset.
    pub download_secret: Option<String>,
    /// An In Progress job silent for longer is shown as stalled (`BGJOBS_STALL_SECS`).
    pub stall_threshold: Duration,
    /// The object store of results files (`BGJOBS_S3_*`, `AWS_*`).
    pub storage: bgjobs_object_store::Settings,
}

/// A configuration value that cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// One variable is wrong.
    #[error("{variable}: {problem}")]
    Invalid {
        /// The environment variable at fault.
        variable: &'static str,
        /// What is wrong with its value and what to use.
        problem: String,
    },
    /// The object storage variables are not usable.
    #[error("{0}")]
    Storage(String),
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> Error {
    Error::Invalid { variable, problem: problem.into() }
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get`; an unset or empty variable takes its default.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let read = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let read_or = |name: &str, default: &str| read(name).unwrap_or_else(|| default.to_owned());

        let http_addr_text = read_or("BGJOBS_GATEWAY_HTTP_ADDR", DEFAULT_HTTP_ADDR);
        let http_addr = http_addr_text.parse().map_err(|_| {
            invalid(
                "BGJOBS_GATEWAY_HTTP_ADDR",
                format!("'{http_addr_text}' is not an address; use IP:PORT such as 0.0.0.0:8080"),
            )
        })?;
        let registry_url =
            http_url("BGJOBS_REGISTRY_URL", read_or("BGJOBS_REGISTRY_URL", DEFAULT_REGISTRY_URL))?;
        let ingest_url =
            http_url("BGJOBS_INGEST_URL", read_or("BGJOBS_INGEST_URL", DEFAULT_INGEST_URL))?;
        let ingest_grpc_url = http_url(
            "BGJOBS_INGEST_GRPC_URL",
            read_or("BGJOBS_INGEST_GRPC_URL", DEFAULT_INGEST_GRPC_URL),
        )?;

        let demo_users = match read("BGJOBS_GATEWAY_DEMO_USERS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(
                    "BGJOBS_GATEWAY_DEMO_USERS",
                    format!("'{other}' is neither true nor false"),
                ));
            }
        };
        let keys =
            match (demo_users, read("BGJOBS_AUTH_JWKS_URL"), read("BGJOBS_AUTH_PUBLIC_KEY_FILE")) {
                (true, None, None) => KeySource::Demo,
                (true, _, _) => {
                    return Err(invalid(
                        "BGJOBS_GATEWAY_DEMO_USERS",
                        "demo users sign their own tokens; unset BGJOBS_AUTH_JWKS_URL and \
                     BGJOBS_AUTH_PUBLIC_KEY_FILE, or turn demo users off",
                    ));
                }
                (false, Some(_), Some(_)) => {
                    return Err(invalid(
                        "BGJOBS_AUTH_JWKS_URL",
                        "set either BGJOBS_AUTH_JWKS_URL or BGJOBS_AUTH_PUBLIC_KEY_FILE, not both",
                    ));
                }
                (false, Some(url), None) => KeySource::Jwks(http_url("BGJOBS_AUTH_JWKS_URL", url)?),
                (false, None, Some(path)) => {
                    let pem = std::fs::read_to_string(&path).map_err(|error| {
                        invalid(
                            "BGJOBS_AUTH_PUBLIC_KEY_FILE",
                            format!("cannot read '{path}': {error}"),
                        )
                    })?;
                    KeySource::Pem(pem)
                }
                (false, None, None) => {
                    return Err(invalid(
                        "BGJOBS_AUTH_JWKS_URL",
                        "no way to verify sign-ins: set BGJOBS_AUTH_JWKS_URL (your identity \
                     provider's JWKS) or BGJOBS_AUTH_PUBLIC_KEY_FILE (a PEM RSA public key), \
                     or BGJOBS_GATEWAY_DEMO_USERS=true for local use",
                    ));
                }
            };
        let issuer = match (read("BGJOBS_AUTH_ISSUER"), &keys) {
            (Some(issuer), _) => issuer,
            (None, KeySource::Demo) => DEMO_ISSUER.to_owned(),
            (None, _) => {
                return Err(invalid(
                    "BGJOBS_AUTH_ISSUER",
                    "required: the 'iss' your identity provider puts in its tokens",
                ));
            }
        };
        let audience = read_or("BGJOBS_AUTH_AUDIENCE", DEFAULT_AUDIENCE);
        let download_secret = read("BGJOBS_DOWNLOAD_SECRET");
        if let Some(secret) = &download_secret
            && secret.len() < 32
        {
            return Err(invalid(
                "BGJOBS_DOWNLOAD_SECRET",
                "too short: use at least 32 random characters (e.g. `openssl rand -hex 32`)",
            ));
        }
        let stall_text = read_or("BGJOBS_STALL_SECS", &DEFAULT_STALL_SECS.to_string());
        let stall_threshold = match stall_text.parse::<u64>() {
            Ok(secs @ 1..=86_400) => Duration::from_secs(secs),
            _ => {
                return Err(invalid(
                    "BGJOBS_STALL_SECS",
                    format!("'{stall_text}' is not a number of seconds from 1 to 86400"),
                ));
            }
        };
        let storage = bgjobs_object_store::Settings::from_lookup(&get)
            .map_err(|error| Error::Storage(error.to_string()))?;
        Ok(Self {
            http_addr,
            registry_url,
            ingest_url,
            ingest_grpc_url,
            keys,
            issuer,
            audience,
            download_secret,
            stall_threshold,
            storage,
        })
    }
}

fn http_url(variable: &'static str, url: String) -> Result<String, Error> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(invalid(variable, format!("'{url}' is not an http:// or https:// URL")))
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logged at start-up: the download secret is never printed.
        let keys = match &self.keys {
            KeySource::Jwks(url) => format!("jwks {url}"),
            KeySource::Pem(_) => "public key file".to_owned(),
            KeySource::Demo => "demo users".to_owned(),
        };
        f.debug_struct("Settings")
            .field("http_addr", &self.http_addr)
            .field("registry_url", &self.registry_url)
            .field("ingest_url", &self.ingest_url)
            .field("ingest_grpc_url", &self.ingest_grpc_url)
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("download_secret", &self.download_secret.as_ref().map(|_| "***"))
            .field("stall_threshold", &self.stall_threshold)
            .field("storage", &self.storage)
            .finish()
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
    fn demo_users_need_no_other_variable() {
        let read = settings(&[("BGJOBS_GATEWAY_DEMO_USERS", "true")]).expect("valid");
        assert!(read.keys == KeySource::Demo);
        assert_eq!(read.issuer, DEMO_ISSUER);
        assert_eq!(read.http_addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(read.stall_threshold, Duration::from_secs(300));
    }

    #[test]
    fn without_keys_the_gateway_refuses_to_start() {
        let error = settings(&[]).expect_err("no keys");
        assert!(error.to_string().contains("BGJOBS_AUTH_JWKS_URL"), "{error}");
    }

    #[test]
    fn a_jwks_url_needs_an_issuer() {
        let error = settings(&[("BGJOBS_AUTH_JWKS_URL", "https://idp/jwks")]).expect_err("issuer");
        assert!(error.to_string().starts_with("BGJOBS_AUTH_ISSUER"), "{error}");
        let read = settings(&[
            ("BGJOBS_AUTH_JWKS_URL", "https://idp/jwks"),
            ("BGJOBS_AUTH_ISSUER", "https://idp"),
            ("BGJOBS_AUTH_AUDIENCE", "wms"),
        ])
        .expect("valid");
        assert!(read.keys == KeySource::Jwks("https://idp/jwks".to_owned()));
        assert_eq!((read.issuer.as_str(), read.audience.as_str()), ("https://idp", "wms"));
    }

    #[test]
    fn each_bad_value_is_named_with_what_to_do() {
        let demo = ("BGJOBS_GATEWAY_DEMO_USERS", "true");
        let cases = [
            (vec![("BGJOBS_GATEWAY_DEMO_USERS", "yes")], "neither true nor false"),
            (vec![demo, ("BGJOBS_AUTH_JWKS_URL", "https://idp/jwks")], "demo users sign"),
            (vec![demo, ("BGJOBS_GATEWAY_HTTP_ADDR", "localhost")], "is not an address"),
            (vec![demo, ("BGJOBS_INGEST_URL", "ingest:8081")], "not an http://"),
            (vec![demo, ("BGJOBS_STALL_SECS", "0")], "from 1 to 86400"),
            (vec![demo, ("BGJOBS_DOWNLOAD_SECRET", "short")], "at least 32"),
            (vec![("BGJOBS_AUTH_PUBLIC_KEY_FILE", "/no/such/key.pem")], "cannot read"),
        ];
        for (variables, expected) in cases {
            let error = settings(&variables).expect_err(expected);
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn the_download_secret_is_never_printed() {
        let secret = "0123456789abcdef0123456789abcdef";
        let read =
            settings(&[("BGJOBS_GATEWAY_DEMO_USERS", "true"), ("BGJOBS_DOWNLOAD_SECRET", secret)])
                .expect("valid");
        assert!(!format!("{read:?}").contains(secret));
    }
}
