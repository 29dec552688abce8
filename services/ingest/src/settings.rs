//! The configuration of ingest, read once from the environment and validated at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use bgjobs_config::sections::{Broker, Delivery, Naming, Registry, Shutdown};
use bgjobs_config::values::{AmqpUrl, HttpUrl, Prefix, Seconds, Size};
use bgjobs_config::{Environment, Error, Load, ProfileSection};

bgjobs_config::section! {
    /// What only ingest reads.
    pub struct Ingest {
        /// Address ingest's HTTP API (uploads, deletions) listens on.
        "BGJOBS_INGEST_HTTP_ADDR" => http_addr: SocketAddr = "127.0.0.1:8081";
        /// Address ingest's gRPC API (retries) listens on.
        "BGJOBS_INGEST_GRPC_ADDR" => grpc_addr: SocketAddr = "127.0.0.1:50052";
        /// A New job whose current attempt has no confirmed message for this long is
        /// published again by the sweeper.
        "BGJOBS_REPUBLISH_AFTER_SECS" => republish_after: Seconds<1, 86400> = "30";
        /// A New job whose message was confirmed this long ago, that no worker started
        /// and whose queue holds no message waiting, is published again by the sweeper
        /// (its message was lost). Longer than the consumers' longest retry delay.
        "BGJOBS_REPUBLISH_UNSTARTED_AFTER_SECS" => republish_unstarted_after: Seconds<1, 86400> = "600";
        /// Largest accepted upload.
        "BGJOBS_MAX_UPLOAD_BYTES" => max_upload_bytes: Size = "1GiB";
    }
}

bgjobs_config::compose! {
    /// Every section ingest reads, as loaded.
    pub struct Sections {
        /// Its own.
        ingest: Ingest,
        /// The registry's gRPC API.
        registry: Registry,
        /// RabbitMQ.
        broker: Broker,
        /// Deliveries before dead-lettering.
        delivery: Delivery,
        /// Broker name prefix.
        naming: Naming,
        /// Input files.
        object_store: bgjobs_object_store::Settings,
        /// After SIGTERM.
        shutdown: Shutdown,
        /// The servers' bounds.
        server_limits: bgjobs_service::ServerLimits,
        /// Probes and metrics.
        ops: bgjobs_service::ops::OpsSettings,
        /// Mutual TLS with the other services.
        tls: bgjobs_identity::Tls,
        /// How users' tokens are verified.
        tokens: bgjobs_auth::TokenSettings,
        /// Logs and traces.
        telemetry: bgjobs_telemetry::Settings,
        /// The profile.
        profile: ProfileSection,
    }
}

/// Everything ingest needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP server listens; port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// Where the gRPC server listens; port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// How long a New job may wait without a confirmed message before the sweeper
    /// publishes it again.
    pub republish_after: Duration,
    /// How long a New job may stay unstarted after its message was confirmed before the
    /// sweeper publishes it again, if its queue holds no message waiting.
    pub republish_unstarted_after: Duration,
    /// The jobs-registry gRPC endpoint.
    pub registry_url: HttpUrl,
    /// The RabbitMQ URL.
    pub amqp_url: AmqpUrl,
    /// Prefix of every exchange and queue name, so tests can share a broker.
    pub prefix: Prefix,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
    /// Deliveries of a job message before it is dead-lettered.
    pub delivery_limit: u32,
    /// The object store of input files.
    pub storage: bgjobs_object_store::Settings,
    /// How long requests in flight may take after SIGTERM.
    pub shutdown_grace: Duration,
    /// Ingest's certificate, for its gRPC server and its calls to the registry.
    pub tls: bgjobs_identity::Tls,
    /// The bounds of the HTTP and gRPC servers (timeouts, concurrency, sizes).
    pub limits: bgjobs_service::Limits,
    /// How the tokens of the users who start jobs are verified.
    pub tokens: bgjobs_auth::Tokens,
    /// Where `/metrics` (with `/healthz` and `/readyz`) is served; `None`: not served.
    pub ops_addr: Option<std::net::SocketAddr>,
    sections: Sections,
}

impl Settings {
    /// Reads the settings from `environment`.
    pub fn load(environment: &Environment<'_>) -> Result<Self, Error> {
        let sections = Sections::load(environment)?;
        let ingest = &sections.ingest;
        Ok(Self {
            http_addr: ingest.http_addr,
            grpc_addr: ingest.grpc_addr,
            republish_after: ingest.republish_after.get(),
            republish_unstarted_after: ingest.republish_unstarted_after.get(),
            registry_url: sections.registry.url.clone(),
            amqp_url: sections.broker.url.clone(),
            prefix: sections.naming.prefix.clone(),
            max_upload_bytes: ingest.max_upload_bytes.get(),
            delivery_limit: sections.delivery.limit.get() as u32,
            storage: sections.object_store.clone(),
            shutdown_grace: sections.shutdown.grace.get(),
            tls: sections.tls.clone(),
            limits: bgjobs_service::Limits::from(&sections.server_limits),
            tokens: bgjobs_auth::Tokens::required(&sections.tokens, "ingest")?,
            ops_addr: sections.ops.addr,
            sections,
        })
    }
}

bgjobs_config::resolved_from!(Settings, sections: Sections);

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of users' tokens, which have no default.
    const TOKENS: [(&str, &str); 2] = [
        ("BGJOBS_AUTH_JWKS_URL", "http://127.0.0.1:8080/api/v1/demo/jwks.json"),
        ("BGJOBS_AUTH_ISSUER", "bgjobs-gateway-demo"),
    ];

    /// The settings of `pairs`, with [`TOKENS`] unless `pairs` name them.
    fn settings_from(pairs: &[(&'static str, &'static str)]) -> Result<Settings, Error> {
        let tokens = TOKENS.into_iter().filter(|(name, _)| pairs.iter().all(|(n, _)| n != name));
        Settings::load(&Environment::from_pairs(pairs.iter().copied().chain(tokens)))
    }

    #[test]
    fn without_a_way_to_verify_users_tokens_ingest_refuses_to_start() {
        let error =
            Settings::load(&Environment::from_pairs::<&str, &str>([])).expect_err("no token keys");
        assert_eq!(error.variable(), "BGJOBS_AUTH_JWKS_URL", "{error}");
        let error = Settings::load(&Environment::from_pairs([TOKENS[0]])).expect_err("no issuer");
        assert_eq!(error.variable(), "BGJOBS_AUTH_ISSUER", "{error}");
        let plain = [("BGJOBS_AUTH_JWKS_URL", "http://idp.example.com/jwks")];
        let error = settings_from(&plain).expect_err("plain http to another machine");
        assert_eq!(error.variable(), "BGJOBS_AUTH_JWKS_URL", "{error}");
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = settings_from(&[]).expect("defaults are valid");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(settings.grpc_addr.to_string(), "127.0.0.1:50052");
        assert_eq!(settings.republish_after, Duration::from_secs(30));
        assert_eq!(settings.republish_unstarted_after, Duration::from_secs(600));
        assert_eq!(settings.registry_url.as_str(), "https://127.0.0.1:50051");
        assert_eq!(settings.amqp_url.expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(&*settings.prefix, "");
        assert_eq!(settings.max_upload_bytes, 1_073_741_824);
        assert_eq!(settings.delivery_limit, 5);
        assert_eq!(settings.storage.bucket.as_str(), "bgjobs");
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
        assert_eq!(settings.registry_url.as_str(), "http://registry:50051");
        assert_eq!(&*settings.prefix, "t-1234.");
        assert_eq!(settings.max_upload_bytes, 1024);
        assert_eq!(settings.delivery_limit, 3);
        assert_eq!(settings.storage.bucket.as_str(), "bgjobs-t-abc");
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
            ("BGJOBS_DELIVERY_LIMIT", "101"),
            ("BGJOBS_S3_BUCKET", "No_Such"),
        ] {
            let error = settings_from(&[(variable, value)]).expect_err(variable);
            assert_eq!(error.variable(), variable, "{error}");
            assert!(error.to_string().starts_with(&format!("{variable}='{value}'")), "{error}");
        }
    }

    #[test]
    fn the_broker_password_is_never_printed() {
        let settings = settings_from(&[("BGJOBS_AMQP_URL", "amqp://jobs:hunter2@broker:5672/%2f")])
            .expect("valid settings");
        let printed = format!("{settings:?}\n{}", bgjobs_config::effective_values(&settings));
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("BGJOBS_AMQP_URL=amqp://jobs:<redacted>@broker:5672/%2f"),
            "{printed}"
        );
    }
}
