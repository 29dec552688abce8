//! RabbitMQ job queues: topology, publisher with confirms, consumer with manual acks.

mod consumer;
mod dead_letters;
mod delay;
mod publisher;
mod topology;

use lapin::types::ShortString;
use lapin::{Connection, ConnectionProperties};

use crate::error::{Error, redact_credentials};

pub use consumer::{JobDelivery, consume};
pub use dead_letters::{DeadLetter, consume_dead_letters};
pub use delay::{Delay, MAX_DELAY_LEVELS, declare_delay_queues};
pub use publisher::JobPublisher;
pub use topology::{QueueSettings, declare_topology, delete_topology};

/// The local stack's broker, used when no URL is configured.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Opens a connection to RabbitMQ at `url` (e.g. [`DEFAULT_URL`]).
///
/// The connection is named after the running program so operators can tell
/// services apart in the management UI. It does not recover by itself: a service
/// whose connection breaks should fail its health check and be restarted, which
/// redelivers its unacked jobs.
pub async fn connect(url: &str) -> Result<Connection, Error> {
    let properties = ConnectionProperties::default().with_connection_name(program_name().into());
    Connection::connect(url, properties)
        .await
        .map_err(|source| Error::AmqpConnect { address: redact_credentials(url), source })
}

/// The number of ready messages in `queue` (unacked deliveries are not counted),
/// read with a passive declare so it never creates the queue.
pub async fn queue_depth(connection: &Connection, queue: &str) -> Result<u32, Error> {
    let channel = connection.create_channel().await?;
    let options = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
    let declared = channel.queue_declare(short_string(queue)?, options, Default::default()).await;
    // A failed passive declare (404) has already closed the channel on the broker side.
    if declared.is_ok() {
        channel.close(200, "OK".into()).await.ok();
    }
    Ok(declared?.message_count())
}

/// An AMQP short string (at most 255 bytes), refused with a clear error when too long.
pub(crate) fn short_string(text: &str) -> Result<ShortString, Error> {
    ShortString::try_new(text)
        .map_err(|error| Error::InvalidName { name: text.to_owned(), reason: error.to_string() })
}

fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bgjobs".to_owned())
}
