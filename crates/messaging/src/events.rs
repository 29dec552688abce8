//! Job events on NATS JetStream: the stream, a de-duplicating publisher and durable
//! pull consumers.

mod backlog;
mod consumer;
mod credentials;
mod publisher;

use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::context::CreateStreamErrorKind;
use async_nats::jetstream::{self, ErrorCode, stream};

use crate::Names;
use crate::error::{Error, nats_error, redact_credentials};

pub use backlog::{Backlog, backlog_age};
pub use consumer::{
    ConsumerSettings, ReceivedEvent, durable_events, durable_events_with, hand_back,
};
pub use publisher::{ACK_WAIT, EventPublisher, MAX_GIVE_UP, PublishRetry};

/// The local stack's NATS server, used when no URL is configured.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// How long JetStream remembers a `Nats-Msg-Id`: a publisher retrying an event within
/// this window stores it once. Longer than a publish retries through an outage
/// ([`MAX_GIVE_UP`] and one last [`ACK_WAIT`]).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(30 * 60);

/// How long events are kept. The registry applies them within seconds; the rest of
/// the week is for replaying into a rebuilt registry or a new consumer.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Connects to NATS at `url` (e.g. [`DEFAULT_URL`]).
///
/// The client reconnects by itself after a connection loss and buffers publishes meanwhile.
/// A user and password (or a token) in `url` are handed to the client apart from the
/// address, which it logs.
pub async fn connect(url: &str) -> Result<Client, Error> {
    let (address, login) = credentials::split_login(url);
    let options = async_nats::ConnectOptions::new().name("bgjobs");
    let options = match login {
        credentials::Login::Anonymous => options,
        credentials::Login::UserAndPassword { user, password } => {
            options.user_and_password(user, password)
        }
        credentials::Login::Token(token) => options.token(token),
    };
    options.connect(address.as_str()).await.map_err(|error| {
        nats_error(&format!("cannot connect to NATS at {}", redact_credentials(url)), error)
    })
}

/// Creates the stream over `names.events_wildcard()` if it is missing, and updates it
/// only when its configuration differs: file storage, duplicate window 30 minutes
/// (de-duplication by `Nats-Msg-Id`), max age 7 days, limits retention, `replicas`
/// copies (`BGJOBS_EVENTS_REPLICAS`; JetStream changes the count of an existing
/// stream in place).
///
/// Create first: JetStream answers a create with the same configuration as a no-op, so
/// a service that may only create the stream (the consumers, the notifier) gets by
/// without the right to update it, which only the registry has (docs/security.md,
/// "Brokers").
pub async fn ensure_stream(client: &Client, names: &Names, replicas: usize) -> Result<(), Error> {
    let config = stream::Config {
        name: names.events_stream(),
        subjects: vec![names.events_wildcard()],
        // File: events are the only record of what workers did until the registry
        // applied them; they must survive a server restart.
        storage: stream::StorageType::File,
        // Limits: messages stay until they age out, whatever consumers acked, so several
        // durable consumers (registry, notifier) read the same events independently.
        retention: stream::RetentionPolicy::Limits,
        // De-duplication by Nats-Msg-Id (the event id), so a retried publish is stored once.
        duplicate_window: DUPLICATE_WINDOW,
        max_age: MAX_AGE,
        // When a limit is hit, the oldest events go: refusing new ones would stall workers.
        discard: stream::DiscardPolicy::Old,
        // One on a single server (the local stack, CI); three on a cluster.
        num_replicas: replicas,
        ..Default::default()
    };
    let context = jetstream::new(client.clone());
    let created = context.create_stream(config.clone()).await;
    let exists_otherwise = matches!(
        created.as_ref().map_err(|error| error.kind()),
        Err(CreateStreamErrorKind::JetStream(error))
            if error.error_code() == ErrorCode::STREAM_NAME_EXIST
    );
    if !exists_otherwise {
        created.map_err(|error| {
            nats_error(&format!("creating stream {}", names.events_stream()), error)
        })?;
        return Ok(());
    }
    context.update_stream(config).await.map_err(|error| {
        let doing = format!(
            "updating stream {} to this version's configuration (only the registry's NATS \
             user may; restart this service once the registry runs)",
            names.events_stream()
        );
        nats_error(&doing, error)
    })?;
    Ok(())
}

/// Deletes the events stream under `names` with all its events and consumers.
/// For tests and for tearing down a prefix; never needed in normal operation.
pub async fn delete_stream(client: &Client, names: &Names) -> Result<(), Error> {
    jetstream::new(client.clone()).delete_stream(names.events_stream()).await.map_err(|error| {
        nats_error(&format!("deleting stream {}", names.events_stream()), error)
    })?;
    Ok(())
}
