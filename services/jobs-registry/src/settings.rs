//! The registry's configuration, read once from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use bgjobs_config::sections::{Database, Events, Naming, Shutdown};
use bgjobs_config::values::{Count, Name, NatsUrl, PostgresUrl, Prefix, Seconds};
use bgjobs_config::{Environment, Error, Load, ProfileSection};

use crate::stall_detector::StallSettings;

bgjobs_config::section! {
    /// What only the registry reads.
    pub struct Registry {
        /// Address the registry's gRPC API listens on.
        "BGJOBS_REGISTRY_GRPC_ADDR" => grpc_addr: SocketAddr = "127.0.0.1:50051";
        /// Name of the durable JetStream consumer the registry reads events from;
        /// replicas sharing it share the work.
        "BGJOBS_REGISTRY_CONSUMER" => consumer: Name = "jobs-registry";
        /// A job In Progress without an event for this long is recovered; keep it well
        /// above the consumers' BGJOBS_HEARTBEAT_SECS.
        "BGJOBS_STALL_THRESHOLD_SECS" => stall_threshold: Seconds<1, 86400> = "300";
        /// Attempts a job gets in all: a stalled job on an earlier attempt is requeued,
        /// on this one it fails with "worker lost".
        "BGJOBS_MAX_ATTEMPTS" => max_attempts: Count<1, 100> = "3";
        /// Job events applied at once, each in a transaction of its own; one job's
        /// events are always applied in order, one at a time. Keep it below the
        /// database pool (10 connections), which the gRPC API shares.
        "BGJOBS_REGISTRY_APPLY_CONCURRENCY" => apply_concurrency: Count<1, 8> = "4";
    }
}

bgjobs_config::compose! {
    /// Every section the registry reads, as loaded.
    pub struct Sections {
        /// Postgres.
        database: Database,
        /// NATS with JetStream.
        events: Events,
        /// Broker name prefix.
        naming: Naming,
        /// The registry's own.
        registry: Registry,
        /// After SIGTERM.
        shutdown: Shutdown,
        /// The gRPC server's bounds.
        server_limits: bgjobs_service::ServerLimits,
        /// Probes and metrics.
        ops: bgjobs_service::ops::OpsSettings,
        /// Mutual TLS with the other services.
        tls: bgjobs_identity::Tls,
        /// Logs and traces.
        telemetry: bgjobs_telemetry::Settings,
        /// The profile.
        profile: ProfileSection,
    }
}

/// Everything the registry needs to know to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Postgres URL of the bgjobs database; created when missing.
    pub database_url: PostgresUrl,
    /// How the database connections behave.
    pub store: bgjobs_database::Settings,
    /// NATS server URL.
    pub nats_url: NatsUrl,
    /// Copies of the job event stream.
    pub events_replicas: usize,
    /// Prefix of every broker name, so that tests can share a broker.
    pub prefix: Prefix,
    /// Address the gRPC server binds; port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// Name of the durable JetStream consumer the registry reads events from.
    pub consumer: Name,
    /// When a running job counts as stalled and how often it is requeued.
    pub stalls: StallSettings,
    /// Job events applied at once.
    pub apply_concurrency: usize,
    /// How long requests and event applications in flight may take after SIGTERM.
    pub shutdown_grace: Duration,
    /// The registry's certificate and the authority of its callers'.
    pub tls: bgjobs_identity::Tls,
    /// The gRPC server's bounds (timeouts, concurrency, HTTP/2).
    pub limits: bgjobs_service::Limits,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None`: not served.
    pub ops_addr: Option<SocketAddr>,
    sections: Sections,
}

impl Settings {
    /// Reads the settings from `environment`.
    pub fn load(environment: &Environment<'_>) -> Result<Self, Error> {
        let sections = Sections::load(environment)?;
        let registry = &sections.registry;
        Ok(Self {
            database_url: sections.database.url.clone(),
            store: bgjobs_database::Settings::from(&sections.database),
            nats_url: sections.events.url.clone(),
            events_replicas: sections.events.replicas.get() as usize,
            prefix: sections.naming.prefix.clone(),
            grpc_addr: registry.grpc_addr,
            consumer: registry.consumer.clone(),
            stalls: StallSettings {
                threshold: registry.stall_threshold.get(),
                max_attempts: registry.max_attempts.get() as u32,
            },
            apply_concurrency: registry.apply_concurrency.get() as usize,
            shutdown_grace: sections.shutdown.grace.get(),
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
    fn an_empty_environment_points_at_the_local_stack() {
        let read = settings(&[]).expect("defaults are valid");
        assert_eq!(read.database_url.expose(), "postgres://postgres@127.0.0.1:5432/bgjobs");
        assert_eq!(read.grpc_addr, SocketAddr::from(([127, 0, 0, 1], 50051)));
        assert_eq!(&*read.consumer, "jobs-registry");
        assert_eq!(read.stalls, StallSettings::default());
        assert_eq!(read.shutdown_grace, Duration::from_secs(25));
        assert_eq!(read.apply_concurrency, 4);
    }

    #[test]
    fn every_variable_is_read() {
        let read = settings(&[
            ("BGJOBS_DATABASE_URL", "postgresql://app:pw@db:5432/jobs?sslmode=require"),
            ("BGJOBS_NATS_URL", "tls://nats:4222"),
            ("BGJOBS_PREFIX", "t1a2b."),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "0.0.0.0:0"),
            ("BGJOBS_REGISTRY_CONSUMER", "registry-2"),
            ("BGJOBS_STALL_THRESHOLD_SECS", "2"),
            ("BGJOBS_MAX_ATTEMPTS", "4"),
            ("BGJOBS_REGISTRY_APPLY_CONCURRENCY", "1"),
        ])
        .expect("valid settings");
        assert_eq!(read.database_url.expose(), "postgresql://app:pw@db:5432/jobs?sslmode=require");
        assert_eq!(read.nats_url.expose(), "tls://nats:4222");
        assert_eq!(&*read.prefix, "t1a2b.");
        assert_eq!(read.grpc_addr, SocketAddr::from(([0, 0, 0, 0], 0)));
        assert_eq!(&*read.consumer, "registry-2");
        assert_eq!(read.stalls.threshold, Duration::from_secs(2));
        assert_eq!(read.stalls.max_attempts, 4);
        assert_eq!(read.apply_concurrency, 1);
    }

    #[test]
    fn each_bad_value_is_named_with_what_is_allowed() {
        let cases = [
            ("BGJOBS_DATABASE_URL", "mysql://db/jobs", "a postgres:// or postgresql:// URL"),
            ("BGJOBS_DATABASE_URL", "postgres://db:5432", "(it names no database)"),
            ("BGJOBS_NATS_URL", "http://nats", "a nats:// or tls:// URL"),
            ("BGJOBS_PREFIX", "a..b", "single '.' separators"),
            ("BGJOBS_REGISTRY_CONSUMER", "jobs.registry", "letters, digits, '-' or '_'"),
            ("BGJOBS_REGISTRY_GRPC_ADDR", "localhost:50051", "an IP address and port"),
            ("BGJOBS_MAX_ATTEMPTS", "0", "from 1 to 100"),
            ("BGJOBS_REGISTRY_APPLY_CONCURRENCY", "9", "from 1 to 8"),
        ];
        for (variable, value, expected) in cases {
            let error = settings(&[(variable, value)]).expect_err(value);
            assert_eq!(error.variable(), variable);
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn passwords_never_reach_messages_or_printed_configuration() {
        let error = settings(&[("BGJOBS_DATABASE_URL", "mysql://app:hunter2@db/jobs")])
            .expect_err("not postgres");
        assert!(!error.to_string().contains("hunter2"), "{error}");

        let read = settings(&[("BGJOBS_DATABASE_URL", "postgres://app:hunter2@db/jobs")])
            .expect("valid settings");
        let printed = format!("{read:?}\n{}", bgjobs_config::effective_values(&read));
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("BGJOBS_DATABASE_URL=postgres://app:<redacted>@db/jobs"),
            "{printed}"
        );
    }
}
