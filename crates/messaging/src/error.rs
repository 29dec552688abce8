//! What can go wrong talking to RabbitMQ or NATS.

/// Why a messaging operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RabbitMQ refused an operation or the connection or channel broke.
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),

    /// The first connection to RabbitMQ failed (the address is shown without credentials).
    #[error("cannot connect to RabbitMQ at {address}: {source}; is the broker running?")]
    AmqpConnect {
        /// The broker's address, credentials removed.
        address: String,
        /// What lapin reported.
        source: lapin::Error,
    },

    /// RabbitMQ refused to sign the user in (wrong password, unknown user, or no
    /// access to the virtual host).
    #[error(
        "RabbitMQ at {address} refused to sign in user '{user}': the user name or password is \
         wrong, or the user may not use this virtual host (the broker's log says which)"
    )]
    AmqpLogin {
        /// The broker's address, credentials removed.
        address: String,
        /// The user the URL names.
        user: String,
    },

    /// NATS or JetStream refused an operation or the connection broke.
    #[error("NATS: {0}")]
    Nats(String),

    /// RabbitMQ answered a publish with a negative confirm: the message was not stored.
    #[error(
        "RabbitMQ did not accept job message {message_id} (negative publisher confirm); publish it again"
    )]
    Nacked {
        /// The AMQP message id, `<job id>:<attempt>`.
        message_id: String,
    },

    /// No queue is bound for the routing key, so RabbitMQ returned the message.
    #[error(
        "no queue is bound for routing key '{routing_key}'; declare the topology before publishing"
    )]
    Unroutable {
        /// The routing key (the job type) that reached no queue.
        routing_key: String,
    },

    /// A queue looked up by name does not exist.
    #[error("queue '{0}' does not exist; is the topology declared under this prefix?")]
    QueueNotFound(String),

    /// A message body is not the protobuf message it should be.
    #[error("message body does not decode: {0}")]
    Decode(#[from] prost::DecodeError),

    /// A message to publish lacks something the wire contract requires.
    #[error("invalid message: {0}")]
    InvalidMessage(String),

    /// A name given to the broker is not acceptable (too long, forbidden characters).
    #[error("invalid name '{name}': {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The channel a delivery came on is closed, so it can no longer be settled;
    /// RabbitMQ will deliver the message again.
    #[error(
        "cannot settle job message {message_id}: its channel is closed; it will be redelivered"
    )]
    ChannelClosed {
        /// The AMQP message id of the delivery.
        message_id: String,
    },
}

/// Turns a NATS client error into [`Error::Nats`], saying what we were doing.
pub(crate) fn nats_error(doing: &str, error: impl std::fmt::Display) -> Error {
    Error::Nats(format!("{doing}: {error}"))
}

/// A broker URL without its user name and password, fit for logs and error messages.
pub(crate) fn redact_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The user a broker URL signs in as; `guest` when it names none, as AMQP URLs mean.
pub(crate) fn user_of(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return "guest".to_owned();
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => authority[..at].split(':').next().unwrap_or_default().to_owned(),
        None => "guest".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_broker_urls() {
        assert_eq!(
            redact_credentials("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_credentials("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_credentials("127.0.0.1:4222"), "127.0.0.1:4222");
    }

    #[test]
    fn the_user_of_a_broker_url_is_read_without_its_password() {
        assert_eq!(user_of("amqp://bgjobs-ingest:secret@127.0.0.1:5672/%2f"), "bgjobs-ingest");
        assert_eq!(user_of("amqp://someone@127.0.0.1:5672"), "someone");
        assert_eq!(user_of("amqp://127.0.0.1:5672/%2f"), "guest");
    }
}
