//! RabbitMQ job queues: topology, publisher with confirms, consumer with manual acks.

mod consumer;
mod dead_letter_queues;
mod dead_letter_watch;
mod delay;
mod publisher;
mod topology;

use lapin::types::ShortString;
use lapin::{Connection, ConnectionProperties};

use crate::error::{Error, redact_credentials, user_of};

pub use consumer::{JobDeliveries, JobDelivery, consume};
pub use dead_letter_queues::{Death, DlqMessage, DlqReader, REPLAYED_BY_HEADER, REPLAYS_HEADER};
pub use dead_letter_watch::{DeadLetter, consume_dead_letters};
pub use delay::{Delay, MAX_DELAY_LEVELS, declare_delay_queues};
pub use publisher::JobPublisher;
pub use topology::{QueueSettings, declare_job_type, declare_topology, delete_topology};

/// AMQP's reply code ACCESS_REFUSED.
const ACCESS_REFUSED: u16 = 403;

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
    Connection::connect(url, properties).await.map_err(|source| {
        let address = redact_credentials(url);
        match source.kind() {
            // ACCESS_REFUSED: the broker is there and said no to this user.
            lapin::ErrorKind::ProtocolError(refusal) if refusal.get_id() == ACCESS_REFUSED => {
                Error::AmqpLogin { address, user: user_of(url) }
            }
            _ => Error::AmqpConnect { address, source },
        }
    })
}

/// The number of ready messages in `queue` (unacked deliveries are not counted),
/// read with a passive declare so it never creates the queue.
pub async fn queue_depth(connection: &Connection, queue: &str) -> Result<u32, Error> {
    let stats = queue_stats(connection, queue).await?;
    stats.map(|stats| stats.messages).ok_or_else(|| Error::QueueNotFound(queue.to_owned()))
}

/// What a passive declare tells of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages ready for delivery (unacked deliveries are not counted).
    pub messages: u32,
    /// Consumers attached to the queue.
    pub consumers: u32,
}

/// The depth and consumers of `queue` from a passive declare (which never creates
/// it); `None` when the queue does not exist.
pub async fn queue_stats(
    connection: &Connection,
    queue: &str,
) -> Result<Option<QueueStats>, Error> {
    let channel = connection.create_channel().await?;
    let options = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
    let declared = channel.queue_declare(short_string(queue)?, options, Default::default()).await;
    match declared {
        Ok(declared) => {
            channel.close(200, "OK".into()).await.ok();
            Ok(Some(QueueStats {
                messages: declared.message_count(),
                consumers: declared.consumer_count(),
            }))
        }
        // A failed passive declare has already closed the channel on the broker side.
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn is_not_found(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(amqp_error) if amqp_error.get_id() == 404)
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
