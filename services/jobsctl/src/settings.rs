//! What jobsctl connects to: the same variables, defaults and rules as the services,
//! each of which a command-line option may override.

use bgjobs_config::sections::{Broker, IngestGrpc, Naming, Registry};

bgjobs_config::compose! {
    /// Where jobsctl finds the system.
    pub struct Settings {
        /// The registry's gRPC API (`--registry`).
        registry: Registry,
        /// Ingest's gRPC API, through which retries go (`--ingest`).
        ingest: IngestGrpc,
        /// RabbitMQ, for dead letters and queue depths (`--amqp-url`).
        broker: Broker,
        /// The prefix of every queue and exchange name (`--prefix`).
        naming: Naming,
        /// jobsctl's certificate, for the registry and ingest.
        tls: bgjobs_identity::Tls,
    }
}
