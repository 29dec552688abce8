//! The gateway's configuration, read once from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use bgjobs_config::sections::{IngestGrpc, Registry};
use bgjobs_config::values::{Count, Flag, HttpUrl, Seconds, Secret};
use bgjobs_config::{Environment, Error, Load, ProfileSection};

use bgjobs_auth::JwksRefresh;

/// Issuer of the demo users' tokens, and the default issuer in demo mode.
pub const DEMO_ISSUER: &str = "bgjobs-gateway-demo";

bgjobs_config::section! {
    /// What only the gateway reads.
    pub struct Gateway {
        /// Address the page and its API listen on.
        "BGJOBS_GATEWAY_HTTP_ADDR" => http_addr: SocketAddr = "127.0.0.1:8080";
        /// Ingest's HTTP API, where uploads and deletions started on the page go:
        /// https:// only; the gateway calls it with its certificate (BGJOBS_TLS_*) and
        /// accepts only a server whose certificate names ingest.bgjobs.internal.
        "BGJOBS_INGEST_URL" => ingest_url: HttpUrl = "https://127.0.0.1:8081";
        /// `true`: generate a signing key at start and offer demo users at /sign-in;
        /// for local use only (`make run` sets it), refused by the production profile.
        "BGJOBS_GATEWAY_DEMO_USERS" => demo_users: Flag = "false",
            development_credential: crate::settings::demo_users;
        /// `true`: every response carries `Strict-Transport-Security: max-age=31536000`,
        /// so browsers use only HTTPS for this host for a year. Set it when the gateway
        /// is reached over HTTPS only (behind a TLS-terminating ingress).
        "BGJOBS_GATEWAY_HSTS" => hsts: Flag = "false";
        /// HMAC key of download links; set the same on every replica. Unset: a random
        /// key per process, so links do not survive a restart.
        "BGJOBS_DOWNLOAD_SECRET" => download_secret: Option<Secret<32>>;
        /// An In Progress job silent for longer is shown as stalled; keep it equal to
        /// the registry's BGJOBS_STALL_THRESHOLD_SECS.
        "BGJOBS_STALL_SECS" => stall_threshold: Seconds<1, 86400> = "300";
        /// Live update streams (one per open page) a user may have open at once on
        /// this gateway process; one more is refused with 429 until one closes.
        "BGJOBS_GATEWAY_SSE_MAX_PER_USER" => sse_max_per_user: Count<1, 1000> = "10";
        /// Live update streams this gateway process serves at once, all users
        /// together; one more is refused with 429 until one closes.
        "BGJOBS_GATEWAY_SSE_MAX_TOTAL" => sse_max_total: Count<1, 1000000> = "2000";
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
        /// How users' tokens are verified.
        tokens: bgjobs_auth::TokenSettings,
        /// The registry's gRPC API (reads and live updates).
        registry: Registry,
        /// Ingest's gRPC API (retries).
        ingest_grpc: IngestGrpc,
        /// Results files, for downloads.
        object_store: bgjobs_object_store::Settings,
        /// Mutual TLS with the registry and ingest.
        tls: bgjobs_identity::Tls,
        /// The HTTP server's bounds.
        server_limits: bgjobs_service::ServerLimits,
        /// Probes and metrics.
        ops: bgjobs_service::ops::OpsSettings,
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

/// How many live update streams (Server-Sent Events) may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per user (account and user id), across every page they have open.
    pub per_user: usize,
    /// On this gateway process, all users together.
    pub total: usize,
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
    /// How long a token may be valid, from issue to expiry.
    pub max_token_lifetime: Duration,
    /// How the JWKS is kept fresh (with [`KeySource::Jwks`]).
    pub jwks_refresh: JwksRefresh,
    /// Key of the download links' signatures; random when unset.
    pub download_secret: Option<Secret<32>>,
    /// An In Progress job silent for longer is shown as stalled.
    pub stall_threshold: Duration,
    /// Whether responses carry `Strict-Transport-Security`.
    pub hsts: bool,
    /// How many live update streams may be open at once.
    pub live_streams: StreamLimits,
    /// The gateway's certificate, for its calls to the registry and ingest.
    pub tls: bgjobs_identity::Tls,
    /// The object store of results files.
    pub storage: bgjobs_object_store::Settings,
    /// The HTTP server's bounds (timeouts, concurrency, sizes).
    pub limits: bgjobs_service::Limits,
    /// Where `/metrics` (with `/healthz` and `/readyz`) is served; `None`: not served.
    pub ops_addr: Option<SocketAddr>,
    sections: Sections,
}

impl Settings {
    /// Reads the settings from `environment`.
    pub fn load(environment: &Environment<'_>) -> Result<Self, Error> {
        let sections = Sections::load(environment)?;
        let gateway = &sections.gateway;
        let tokens = &sections.tokens;
        let rule = |variable, problem: &str| Error::Rule { variable, problem: problem.to_owned() };
        let keys = match (gateway.demo_users.0, tokens.key_source()?) {
            (true, None) => KeySource::Demo,
            (true, Some(_)) => {
                return Err(rule(
                    "BGJOBS_GATEWAY_DEMO_USERS",
                    "demo users sign their own tokens; unset BGJOBS_AUTH_JWKS_URL and \
                     BGJOBS_AUTH_PUBLIC_KEY_FILE, or turn demo users off",
                ));
            }
            (false, Some(bgjobs_auth::KeySource::Jwks(url))) => KeySource::Jwks(url),
            (false, Some(bgjobs_auth::KeySource::Pem(pem))) => KeySource::Pem(pem),
            (false, None) => {
                return Err(rule(
                    "BGJOBS_AUTH_JWKS_URL",
                    "no way to verify sign-ins: set BGJOBS_AUTH_JWKS_URL (your identity \
                     provider's JWKS) or BGJOBS_AUTH_PUBLIC_KEY_FILE (a PEM RSA public key), \
                     or BGJOBS_GATEWAY_DEMO_USERS=true for local use",
                ));
            }
        };
        let issuer = match (&tokens.issuer, &keys) {
            (Some(issuer), _) => issuer.clone(),
            (None, KeySource::Demo) => DEMO_ISSUER.to_owned(),
            (None, _) => {
                return Err(rule(
                    "BGJOBS_AUTH_ISSUER",
                    "required: the 'iss' your identity provider puts in its tokens",
                ));
            }
        };
        let jwks_refresh = tokens.jwks_refresh()?;
        Ok(Self {
            http_addr: gateway.http_addr,
            registry_url: sections.registry.url.clone(),
            ingest_url: gateway.ingest_url.clone(),
            ingest_grpc_url: sections.ingest_grpc.url.clone(),
            keys,
            issuer,
            audience: tokens.audience.clone(),
            max_token_lifetime: tokens.max_token_lifetime.get(),
            jwks_refresh,
            download_secret: gateway.download_secret.clone(),
            stall_threshold: gateway.stall_threshold.get(),
            hsts: gateway.hsts.0,
            live_streams: StreamLimits {
                per_user: usize::try_from(gateway.sse_max_per_user.get()).unwrap_or(usize::MAX),
                total: usize::try_from(gateway.sse_max_total.get()).unwrap_or(usize::MAX),
            },
            storage: sections.object_store.clone(),
            tls: sections.tls.clone(),
            limits: bgjobs_service::Limits::from(&sections.server_limits),
            ops_addr: sections.ops.addr,
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
    fn a_jwks_url_is_https_unless_it_is_on_this_machine() {
        let with_jwks = |url: &'static str| {
            settings(&[("BGJOBS_AUTH_JWKS_URL", url), ("BGJOBS_AUTH_ISSUER", "https://idp")])
        };
        for url in [
            "https://idp.example/jwks",
            "http://127.0.0.1:9000/jwks",
            "http://127.8.9.10/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost:9000/jwks",
            "http://LOCALHOST/jwks",
        ] {
            assert!(with_jwks(url).is_ok(), "{url} is refused");
        }
        for url in [
            "http://idp.example/jwks",
            "http://10.0.0.7/jwks",
            "http://localhost.idp.example/jwks",
            "http://[::2]/jwks",
        ] {
            let error = with_jwks(url).expect_err(url);
            assert_eq!(error.variable(), "BGJOBS_AUTH_JWKS_URL", "{error}");
            assert!(error.to_string().contains("must come over https://"), "{error}");
        }
    }

    #[test]
    fn token_and_jwks_limits_have_safe_defaults() {
        let read = settings(&[("BGJOBS_GATEWAY_DEMO_USERS", "true")]).expect("valid");
        assert_eq!(read.max_token_lifetime, Duration::from_secs(24 * 3600));
        assert_eq!(read.jwks_refresh, JwksRefresh::default());
        let error = settings(&[
            ("BGJOBS_GATEWAY_DEMO_USERS", "true"),
            ("BGJOBS_AUTH_JWKS_MIN_REFRESH_SECS", "60"),
            ("BGJOBS_AUTH_JWKS_MAX_BACKOFF_SECS", "10"),
        ])
        .expect_err("backoff below the interval");
        assert_eq!(error.variable(), "BGJOBS_AUTH_JWKS_MAX_BACKOFF_SECS", "{error}");
    }

    #[test]
    fn live_streams_are_capped_per_user_and_in_total() {
        let read = settings(&[("BGJOBS_GATEWAY_DEMO_USERS", "true")]).expect("valid");
        assert_eq!(read.live_streams, StreamLimits { per_user: 10, total: 2000 });
        let error = settings(&[
            ("BGJOBS_GATEWAY_DEMO_USERS", "true"),
            ("BGJOBS_GATEWAY_SSE_MAX_PER_USER", "0"),
        ])
        .expect_err("no stream at all");
        assert_eq!(error.variable(), "BGJOBS_GATEWAY_SSE_MAX_PER_USER", "{error}");
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
