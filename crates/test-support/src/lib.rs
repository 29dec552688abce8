//! Helpers for bgjobs tests: fresh databases, unique prefixes, waiting on conditions.
//!
//! Tests share one local stack (Postgres, RabbitMQ, NATS, S3, SMTP) and isolate
//! themselves by names: a database, queue prefix, subject prefix and bucket of
//! their own.

pub mod brokers;
pub mod mail;
pub mod names;
pub mod pki;
pub mod postgres;
pub mod s3;
pub mod tokens;
pub mod wait;

/// A short random lowercase suffix, unique enough to isolate one test's resources.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
