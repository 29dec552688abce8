//! The gateway's configuration, read once from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bgjobs_config::sections::{IngestGrpc, Registry};
use bgjobs_config::values::{Flag, HttpUrl, Seconds, Secret};
use bgjobs_config::{Environment, Error, Load, ProfileSection};

/// Issuer of the demo users' tokens, and the default issuer in demo mode.
pub const DEMO_ISSUER: &str = "bgjobs-gateway-demo";

bgjobs_config::section! {
    /// What only the gateway reads.
    pub struct Gateway {
        /// Address the page and its API listen on.
        "BGJOBS_GATEWAY_HTTP_ADDR" => http_addr: SocketAddr = "127.0.0.1:8080";
        /// Ingest's HTTP API, where uploads and deletions started on the page go.
        "BGJOBS_INGEST_URL" => ingest_url: HttpUrl = "http://127.0.0.1:8081";
        /// The identity provider's JWKS, which verifies sign-in tokens (RS256). One of
        /// this, BGJOBS_AUTH_PUBLIC_KEY_FILE or BGJOBS_GATEWAY_DEMO_USERS is required.
        "BGJOBS_AUTH_JWKS_URL" => jwks_url: Option<HttpUrl>;
        /// Instead of a JWKS: a file with one PEM-encoded RSA public key.
        "BGJOBS_AUTH_PUBLIC_KEY_FILE" => public_key_file: Option<PathBuf>;
        /// The `iss` tokens must have; required with a JWKS or a key file (demo users:
        /// bgjobs-gateway-demo).
        "BGJOBS_AUTH_ISSUER" => issuer: Option<String>;
        /// The `aud` tokens must have.
        "BGJOBS_AUTH_AUDIENCE" => audience: String = "bgjobs";
        /// `true`: generate a signing key at start and offer demo users at /sign-in;
        /// for local use only (`make run` sets it), refused by the production profile.
        "BGJOBS_GATEWAY_DEMO_USERS" => demo_users: Flag = "false",
            development_credential: crate::settings::demo_users;
        /// HMAC key of download links; set the same on every replica. Unset: a random
        /// key per process, so links do not survive a restart.
        "BGJOBS_DOWNLOAD_SECRET" => download_secret: Option<Secret<32>>;
        /// An In Progress job silent for longer is shown as stalled; keep it equal to
        /// the registry's BGJOBS_STALL_THRESHOLD_SECS.
        "BGJOBS_STALL_SECS" => stall_threshold: Seconds<1, 86400> = "300";
    }
}

/// The production profile's check: demo users sign in without a password.
pub fn demo_users(value: &str) -> Option<&'static str> {
    (value == "true").then_some("demo users sign in without a password")
}

bgjobs_config::compose! {
    /// Every section the gateway reads, as loaded.
    pub struct Sections {
        /// Its own.
        gateway: Gateway,
        /// The registry's gRPC API (reads and live updates).
        registry: Registry,
        /// Ingest's gRPC API (retries).
        ingest_grpc: IngestGrpc,
        /// Results files, for downloads.
        object_store: bgjobs_object_store::Settings,
        /// Logs and traces.
        telemetry: bgjobs_telemetry::Settings,
        /// The profile.
        profile: ProfileSection,
    }
}

/// Where the public keys that verify tokens come from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS document fetched from this URL (and fetched again for an unknown key id).
    Jwks(String),
    /// One RSA public key, PEM-encoded.
    Pem(String),
    /// The demo users' key, generated at start.
    Demo,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jwks(url) => write!(f, "jwks {url}"),
            Self::Pem(_) => f.write_str("public key file"),
            Self::Demo => f.write_str("demo users"),
        }
    }
}

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP server listens; port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// The jobs-registry gRPC endpoint.
    pub registry_url: HttpUrl,
    /// Ingest's HTTP API, where uploads and deletions are forwarded.
    pub ingest_url: HttpUrl,
    /// Ingest's gRPC API, which retries jobs.
    pub ingest_grpc_url: HttpUrl,
    /// Token keys.
    pub keys: KeySource,
    /// The `iss` a token must have.
    pub issuer: String,
    /// The `aud` a token must have.
    pub audience: String,
    /// Key of the download links' signatures; random when unset.
    pub download_secret: Option<Secret<32>>,
    /// An In Progress job silent for longer is shown as stalled.
    pub stall_threshold: Duration,
    /// The object store of results files.
    pub storage: bgjobs_object_store::Settings,
    sections: Sections,
}

impl Settings {
    /// Reads the settings from `environment`.
    pub fn load(environment: &Environment<'_>) -> Result<Self, Error> {
        let sections = Sections::load(environment)?;
        let gateway = &sections.gateway;
        let rule = |variable, problem: &str| Error::Rule { variable, problem: problem.to_owned() };
        let keys = match (gateway.demo_users.0, &gateway.jwks_url, &gateway.public_key_file) {
            (true, None, None) => KeySource::Demo,
            (true, _, _) => {
                return Err(rule(
                    "BGJOBS_GATEWAY_DEMO_USERS",
                    "demo users sign their own tokens; unset BGJOBS_AUTH_JWKS_URL and \
                     BGJOBS_AUTH_PUBLIC_KEY_FILE, or turn demo users off",
                ));
            }
            (false, Some(_), Some(_)) => {
                return Err(rule(
                    "BGJOBS_AUTH_JWKS_URL",
                    "set either BGJOBS_AUTH_JWKS_URL or BGJOBS_AUTH_PUBLIC_KEY_FILE, not both",
                ));
            }
            (false, Some(url), None) => KeySource::Jwks(url.as_str().to_owned()),
            (false, None, Some(path)) => {
                let pem = std::fs::read_to_string(path).map_err(|error| Error::Rule {
                    variable: "BGJOBS_AUTH_PUBLIC_KEY_FILE",
                    problem: format!("cannot read '{}': {error}", path.display()),
                })?;
                KeySource::Pem(pem)
            }
            (false, None, None) => {
                return Err(rule(
                    "BGJOBS_AUTH_JWKS_URL",
                    "no way to verify sign-ins: set BGJOBS_AUTH_JWKS_URL (your identity \
                     provider's JWKS) or BGJOBS_AUTH_PUBLIC_KEY_FILE (a PEM RSA public key), \
                     or BGJOBS_GATEWAY_DEMO_USERS=true for local use",
                ));
            }
        };
        let issuer = match (&gateway.issuer, &keys) {
            (Some(issuer), _) => issuer.clone(),
            (None, KeySource::Demo) => DEMO_ISSUER.to_owned(),
            (None, _) => {
                return Err(rule(
                    "BGJOBS_AUTH_ISSUER",
                    "required: the 'iss' your identity provider puts in its tokens",
                ));
            }
        };
        Ok(Self {
            http_addr: gateway.http_addr,
            registry_url: sections.registry.url.clone(),
            ingest_url: gateway.ingest_url.clone(),
            ingest_grpc_url: sections.ingest_grpc.url.clone(),
            keys,
            issuer,
            audience: gateway.audience.clone(),
            download_secret: gateway.download_secret.clone(),
            stall_threshold: gateway.stall_threshold.get(),
            storage: sections.object_store.clone(),
            sections,
        })
    }
}

bgjobs_config::resolved_from!(Settings, sections: Sections);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&'static str, &'static str)]) -> Result<Settings, Error> {
        Settings::load(&Environment::from_pairs(pairs.iter().copied()))
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
        assert_eq!(error.variable(), "BGJOBS_AUTH_JWKS_URL", "{error}");
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
            (vec![("BGJOBS_GATEWAY_DEMO_USERS", "yes")], "expected true or false"),
            (vec![demo, ("BGJOBS_AUTH_JWKS_URL", "https://idp/jwks")], "demo users sign"),
            (vec![demo, ("BGJOBS_GATEWAY_HTTP_ADDR", "localhost")], "an IP address and port"),
            (vec![demo, ("BGJOBS_INGEST_URL", "ingest:8081")], "an http:// or https:// URL"),
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
        let short = settings(&[
            ("BGJOBS_GATEWAY_DEMO_USERS", "true"),
            ("BGJOBS_DOWNLOAD_SECRET", "hunter2"),
        ])
        .expect_err("too short");
        let printed = format!("{read:?}\n{}\n{short}", bgjobs_config::effective_values(&read));
        assert!(!printed.contains(secret) && !printed.contains("hunter2"), "{printed}");
    }
}
