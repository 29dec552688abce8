//! The sections several services share. The object store's lives in its crate.

use crate::values::{AmqpUrl, Count, HttpUrl, NatsUrl, PostgresUrl, Prefix, Seconds};

crate::section! {
    /// The Postgres database of jobs and the catalogue.
    pub struct Database {
        /// Postgres URL of the bgjobs database; the registry creates it when missing.
        "BGJOBS_DATABASE_URL" => url: PostgresUrl = "postgres://postgres@127.0.0.1:5432/bgjobs",
            development_credential: crate::sections::without_password;
        /// Seconds a session may sit idle inside a transaction before Postgres ends it,
        /// releasing the locks a frozen process holds.
        "BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS" => idle_in_transaction_timeout: Seconds<1, 3600> = "10";
        /// Seconds one statement may run before Postgres cancels it, failing the call
        /// with an error that is retried; migrations are exempt. The store's statements
        /// touch one batch of rows and take milliseconds.
        "BGJOBS_DB_STATEMENT_TIMEOUT_SECS" => statement_timeout: Seconds<1, 3600> = "60";
        /// Seconds a statement may wait for a lock (a job row, a client's advisory lock)
        /// before Postgres cancels it, failing the call with an error that is retried;
        /// every lock is held for one short transaction.
        "BGJOBS_DB_LOCK_TIMEOUT_SECS" => lock_timeout: Seconds<1, 3600> = "30";
    }
}

crate::section! {
    /// The RabbitMQ broker of job messages.
    pub struct Broker {
        /// RabbitMQ URL, with the vhost as its path (`%2f` is the default vhost).
        "BGJOBS_AMQP_URL" => url: AmqpUrl = "amqp://guest:guest@127.0.0.1:5672/%2f",
            development_credential: crate::sections::guest_account;
    }
}

crate::section! {
    /// How often RabbitMQ delivers a job message before dead-lettering it.
    pub struct Delivery {
        /// Deliveries of a job message before RabbitMQ dead-letters it; the queues are
        /// declared with it, so every service declaring them must agree.
        "BGJOBS_DELIVERY_LIMIT" => limit: Count<1, 100> = "5";
    }
}

crate::section! {
    /// NATS with JetStream, which carries job events.
    pub struct Events {
        /// NATS URL of the JetStream server that carries job events.
        "BGJOBS_NATS_URL" => url: NatsUrl = "nats://127.0.0.1:4222";
        /// Copies of the job event stream JetStream keeps: 3 on a three-server cluster,
        /// so the events survive the loss of one; 1 on a single server. Give every
        /// service the same value: a service creates the stream with it, and the
        /// registry sets it on an existing stream at start.
        "BGJOBS_EVENTS_REPLICAS" => replicas: Count<1, 5> = "1";
    }
}

crate::section! {
    /// The names of queues, exchanges, streams and subjects.
    pub struct Naming {
        /// Put in front of every queue, exchange, stream and subject name, so that
        /// several installations (or test runs) can share one broker.
        "BGJOBS_PREFIX" => prefix: Prefix = "";
    }
}

crate::section! {
    /// What happens after SIGTERM.
    pub struct Shutdown {
        /// Seconds that work in flight may take after SIGTERM before it is handed back;
        /// keep it below Kubernetes' 30 s before it kills the pod.
        "BGJOBS_SHUTDOWN_GRACE_SECS" => grace: Seconds<0, 3600> = "25";
    }
}

crate::section! {
    /// Where the jobs registry's gRPC API is.
    pub struct Registry {
        /// URL of the jobs-registry gRPC API; `https://`, as every call between bgjobs
        /// services is made over mutual TLS.
        "BGJOBS_REGISTRY_URL" => url: HttpUrl = "https://127.0.0.1:50051";
    }
}

crate::section! {
    /// Where ingest's gRPC API is.
    pub struct IngestGrpc {
        /// URL of ingest's gRPC API (retries); `https://`, over mutual TLS.
        "BGJOBS_INGEST_GRPC_URL" => url: HttpUrl = "https://127.0.0.1:50052";
    }
}

/// The built-in Postgres URL has no password (the local cluster trusts loopback).
pub fn without_password(url: &str) -> Option<&'static str> {
    let parsed = url::Url::parse(url).ok()?;
    let has_password = parsed.password().is_some_and(|password| !password.is_empty())
        || parsed.query_pairs().any(|(key, _)| key == "password");
    (!has_password).then_some("it connects to Postgres without a password")
}

/// The broker's built-in `guest` account with password `guest`.
pub fn guest_account(url: &str) -> Option<&'static str> {
    let parsed = url::Url::parse(url).ok()?;
    (parsed.username() == "guest" && parsed.password() == Some("guest"))
        .then_some("it signs in with RabbitMQ's built-in guest:guest account")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Environment, Error, Load};

    #[test]
    fn an_empty_environment_points_at_the_local_stack() {
        let none = Environment::from_pairs::<&str, &str>([]);
        let database = Database::load(&none).expect("defaults are valid");
        assert_eq!(database.url.expose(), "postgres://postgres@127.0.0.1:5432/bgjobs");
        assert_eq!(database.idle_in_transaction_timeout.get().as_secs(), 10);
        assert_eq!(database.statement_timeout.get().as_secs(), 60);
        assert_eq!(database.lock_timeout.get().as_secs(), 30);
        assert_eq!(Delivery::load(&none).expect("valid").limit.get(), 5);
        assert_eq!(&*Naming::load(&none).expect("valid").prefix, "");
    }

    #[test]
    fn an_empty_or_blank_value_takes_the_default() {
        let blank = Environment::from_pairs([("BGJOBS_DELIVERY_LIMIT", " ")]);
        assert_eq!(Delivery::load(&blank).expect("valid").limit.get(), 5);
    }

    #[test]
    fn a_bad_value_names_the_variable_the_value_and_what_is_allowed() {
        let zero = Environment::from_pairs([("BGJOBS_DELIVERY_LIMIT", "0")]);
        let error = Delivery::load(&zero).expect_err("0 is out of range");
        assert_eq!(
            error.to_string(),
            "BGJOBS_DELIVERY_LIMIT='0' is not allowed: expected a whole number from 1 to 100"
        );
        let no_database =
            Environment::from_pairs([("BGJOBS_DATABASE_URL", "postgres://app:pw@db:5432")]);
        assert_eq!(
            Database::load(&no_database).expect_err("no database").to_string(),
            "BGJOBS_DATABASE_URL='postgres://app:<redacted>@db:5432' is not allowed (it names no \
             database): expected a postgres:// or postgresql:// URL such as \
             postgres://USER:PASSWORD@HOST:5432/bgjobs"
        );
        assert!(matches!(error, Error::Invalid { variable: "BGJOBS_DELIVERY_LIMIT", .. }));
    }

    #[test]
    fn passwords_that_look_like_numbers_or_lists_stay_text() {
        for password in ["00123", "[x]", "{a=b}", "true"] {
            let url = format!("amqp://jobs:{password}@broker:5672/%2f");
            let environment = Environment::from_pairs([("BGJOBS_AMQP_URL", url.clone())]);
            assert_eq!(Broker::load(&environment).expect("valid").url.expose(), url);
        }
    }

    #[test]
    fn built_in_credentials_are_recognised() {
        assert!(guest_account("amqp://guest:guest@127.0.0.1:5672/%2f").is_some());
        assert!(guest_account("amqp://jobs:s3cret@broker:5672/%2f").is_none());
        assert!(without_password("postgres://postgres@127.0.0.1:5432/bgjobs").is_some());
        assert!(without_password("postgres://app:pw@db/bgjobs").is_none());
        assert!(without_password("postgres://app@db/bgjobs?password=pw").is_none());
    }
}
