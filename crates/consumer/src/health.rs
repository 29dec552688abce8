//! A consumer's readiness, for its `/readyz`: it can take a job and see it through
//! when its RabbitMQ connection is open, NATS is connected and the database answers.

use bgjobs_database::Store;
use bgjobs_service::ops;

/// What a consumer's work depends on.
pub(crate) struct Readiness {
    /// The connection its queue consumer and delay publisher use.
    pub(crate) amqp: lapin::ConnectionStatus,
    /// Where its job events go.
    pub(crate) nats: async_nats::Client,
    /// Its catalogue.
    pub(crate) store: Store,
}

impl ops::Readiness for Readiness {
    async fn check(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if !self.amqp.connected() {
            missing.push("RabbitMQ is not connected".to_owned());
        }
        if self.nats.connection_state() != async_nats::connection::State::Connected {
            missing.push("NATS is not connected".to_owned());
        }
        if let Err(error) = self.store.connection().ping().await {
            missing.push(format!("the database does not answer: {error}"));
        }
        if missing.is_empty() { Ok(()) } else { Err(missing.join("; ")) }
    }
}
