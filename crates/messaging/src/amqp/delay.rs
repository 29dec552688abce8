//! Delayed retry of job messages (docs/architecture.md, "Contracts", "delayed retry with backoff"),
//! with only what RabbitMQ 3.10 has: classic queues, per-message TTL and
//! dead-lettering.
//!
//! ```text
//! consumer --publish, header bgjobs-delay-level = n, expiration = delay-->
//!   {prefix}bgjobs.<type>.delay (headers) --> {prefix}bgjobs.<type>.delay.<n> (classic, no consumers)
//!   --expired, dead-lettered--> {prefix}bgjobs.<type>.retry (fanout) --> {prefix}bgjobs.<type>
//! ```
//!
//! A message expires only at the head of its queue, so each retry level has a queue
//! of its own, where delays differ only by their jitter: a message waits at most the
//! jitter's spread longer than asked.
//!
//! Every exchange and queue of the path belongs to one job type and leads back to that
//! type's queue only. A consumer's broker user therefore needs no right to publish to
//! the jobs exchange, and cannot put a message in another type's queue this way
//! (docs/security.md, "Brokers").

use std::time::Duration;

use bgjobs_domain::JobType;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ExchangeKind};

use super::short_string;
use crate::{Error, Names};

/// The most delay levels, hence retries of one message, that can be declared.
pub const MAX_DELAY_LEVELS: u32 = 10;

/// The header that routes a message to the delay queue of its level.
pub(crate) const LEVEL_HEADER: &str = "bgjobs-delay-level";
/// The header counting the retries a message was given (absent: none yet).
pub(crate) const RETRIES_HEADER: &str = "bgjobs-retries";
/// The header counting the deliveries of earlier copies of the message, so that
/// delivery numbers keep growing across retries (absent: none).
pub(crate) const DELIVERIES_HEADER: &str = "bgjobs-deliveries";

/// A retry to schedule: which level, after how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    /// Retries the message had before this one: its delay queue's level.
    pub level: u32,
    /// How long the message waits before it is delivered again.
    pub delay: Duration,
}

/// Declares (idempotently) `job_type`'s retry exchange, bound to its queue, and its
/// delay exchange with the delay queues of levels `0..levels` (at most
/// [`MAX_DELAY_LEVELS`]). The type's queue must exist: declare the job type first.
pub async fn declare_delay_queues(
    connection: &Connection,
    names: &Names,
    job_type: JobType,
    levels: u32,
) -> Result<(), Error> {
    let channel = connection.create_channel().await?;
    let declared = declare_on(&channel, names, job_type, levels.min(MAX_DELAY_LEVELS)).await;
    channel.close(200, "OK".into()).await.ok();
    declared
}

async fn declare_on(
    channel: &Channel,
    names: &Names,
    job_type: JobType,
    levels: u32,
) -> Result<(), Error> {
    // Fanout: an expired message keeps the routing key it was published with, and
    // whatever that says, it returns to this type's queue and no other.
    let retry_exchange = short_string(&names.retry_exchange(job_type))?;
    channel
        .exchange_declare(
            retry_exchange.clone(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            short_string(&names.queue(job_type))?,
            retry_exchange,
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let exchange = short_string(&names.delay_exchange(job_type))?;
    // Headers: routed by retry level alone.
    channel
        .exchange_declare(
            exchange.clone(),
            ExchangeKind::Headers,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    for level in 0..levels {
        let queue = short_string(&names.delay_queue(job_type, level))?;
        let mut arguments = FieldTable::default();
        // Classic: per-message TTL is what makes a delay, and on 3.10 only classic
        // queues expire messages by their own expiration. Dead-lettering from a
        // classic queue is at-most-once: a broker crash in that instant could lose
        // the retry, and the stall detector then recovers the job.
        arguments.insert("x-queue-type".into(), long_string("classic"));
        arguments
            .insert("x-dead-letter-exchange".into(), long_string(&names.retry_exchange(job_type)));
        channel.queue_declare(queue.clone(), QueueDeclareOptions::durable(), arguments).await?;
        let mut binding = FieldTable::default();
        binding.insert("x-match".into(), long_string("all"));
        binding.insert(LEVEL_HEADER.into(), AMQPValue::LongLongInt(i64::from(level)));
        channel
            .queue_bind(queue, exchange.clone(), "".into(), QueueBindOptions::default(), binding)
            .await?;
    }
    Ok(())
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}
