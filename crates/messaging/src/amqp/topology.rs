//! The job topology (docs/architecture.md, "Contracts"), declared idempotently by every service
//! that publishes or consumes, so start-up order does not matter.
//!
//! ```text
//! {prefix}bgjobs.jobs (topic) --routing key = job type--> {prefix}bgjobs.<type> (quorum)
//!        dead-lettered (delivery limit, nack without requeue)  |
//!                                                              v
//! {prefix}bgjobs.dlx (direct) --routing key = job type--> {prefix}bgjobs.<type>.dlq (quorum)
//!                              \--every job type--------> {prefix}bgjobs.dead-letters (quorum)
//! ```
//!
//! The DLQs keep dead-lettered messages for operators to inspect and replay; the
//! watch queue gets a copy of each, which ingest consumes to move the job to Error.

use bgjobs_domain::JobType;
use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ExchangeKind};

use super::short_string;
use crate::{Error, Names};

/// How job queues treat messages that keep failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// How many times RabbitMQ may hand a message back to the queue (nack with
    /// requeue, or a consumer that died holding it) before dead-lettering it. On
    /// RabbitMQ 3.10 a message is therefore delivered at most `delivery_limit + 1`
    /// times: with 2, deliveries 1, 2 and 3 happen and the third return dead-letters it.
    pub delivery_limit: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { delivery_limit: 5 }
    }
}

/// Declares (idempotently) the topic exchange, per job type a durable quorum queue
/// bound by routing key, the dead-letter exchange and a durable dead-letter queue per type.
///
/// Queue arguments cannot change once a queue exists: declaring it again with a
/// different `delivery_limit` fails with PRECONDITION_FAILED. Change such a setting
/// on a live broker with a RabbitMQ policy instead.
pub async fn declare_topology(
    connection: &Connection,
    names: &Names,
    settings: &QueueSettings,
) -> Result<(), Error> {
    declare_for(connection, names, settings, &JobType::ALL).await
}

/// Declares (idempotently) what one job type's consumer needs of the topology: both
/// exchanges, the dead-letter watch queue, and that type's queue and dead-letter queue
/// with their bindings; the same declarations as [`declare_topology`], for one type.
///
/// A consumer declares only its own queues so that its broker user needs no rights on
/// the other types' queues (docs/security.md, "Brokers"): declaring a queue with a
/// dead-letter exchange takes the right to read it.
pub async fn declare_job_type(
    connection: &Connection,
    names: &Names,
    settings: &QueueSettings,
    job_type: JobType,
) -> Result<(), Error> {
    declare_for(connection, names, settings, &[job_type]).await
}

async fn declare_for(
    connection: &Connection,
    names: &Names,
    settings: &QueueSettings,
    job_types: &[JobType],
) -> Result<(), Error> {
    let channel = connection.create_channel().await?;
    let declared = declare_on(&channel, names, settings, job_types).await;
    channel.close(200, "OK".into()).await.ok();
    declared
}

async fn declare_on(
    channel: &Channel,
    names: &Names,
    settings: &QueueSettings,
    job_types: &[JobType],
) -> Result<(), Error> {
    let exchange = short_string(&names.exchange())?;
    let dead_letter_exchange = short_string(&names.dead_letter_exchange())?;

    // Durable: bindings and exchanges must survive a broker restart, like the
    // durable queues behind them. Topic rather than direct so that a future
    // consumer can bind to a pattern (e.g. every upload type) without a new exchange.
    channel
        .exchange_declare(
            exchange.clone(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    // Direct: a dead-lettered message only ever needs to reach its type's DLQ.
    channel
        .exchange_declare(
            dead_letter_exchange.clone(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;

    // Quorum like the DLQs; consumed (and emptied) by ingest.
    let watch_queue = short_string(&names.dead_letter_watch_queue())?;
    channel
        .queue_declare(
            watch_queue.clone(),
            QueueDeclareOptions::durable(),
            dead_letter_queue_arguments(),
        )
        .await?;

    for &job_type in job_types {
        let routing_key = short_string(job_type.as_str())?;
        channel
            .queue_bind(
                watch_queue.clone(),
                dead_letter_exchange.clone(),
                routing_key.clone(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        // The DLQ and its binding exist before the job queue that dead-letters into it,
        // so no message is ever dead-lettered to nowhere.
        let dead_letter_queue = short_string(&names.dead_letter_queue(job_type))?;
        channel
            .queue_declare(
                dead_letter_queue.clone(),
                QueueDeclareOptions::durable(),
                dead_letter_queue_arguments(),
            )
            .await?;
        channel
            .queue_bind(
                dead_letter_queue,
                dead_letter_exchange.clone(),
                routing_key.clone(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let queue = short_string(&names.queue(job_type))?;
        channel
            .queue_declare(
                queue.clone(),
                QueueDeclareOptions::durable(),
                job_queue_arguments(names, job_type, settings),
            )
            .await?;
        channel
            .queue_bind(
                queue,
                exchange.clone(),
                routing_key,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

fn job_queue_arguments(names: &Names, job_type: JobType, settings: &QueueSettings) -> FieldTable {
    let mut arguments = FieldTable::default();
    // Quorum: replicated with Raft and fsynced before confirming, so a confirmed job
    // survives the loss of a node; and only quorum queues track deliveries per
    // message, which the delivery limit needs.
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    // A message that crashes its consumer again and again (docs/architecture.md, "Processing
    // rules") is dead-lettered after this many returns instead of being redelivered forever.
    arguments.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(settings.delivery_limit)),
    );
    // Where rejected and over-limit messages go: the DLQ of their type, for operators.
    arguments.insert("x-dead-letter-exchange".into(), long_string(&names.dead_letter_exchange()));
    // Explicit rather than the message's own routing key: a message that reached the
    // queue another way (an operator's replay through the default exchange, routed by
    // queue name) must still find its DLQ.
    arguments.insert("x-dead-letter-routing-key".into(), long_string(job_type.as_str()));
    // At-least-once dead-lettering (RabbitMQ 3.10+): the message leaves this queue
    // only once the DLQ has confirmed it, so a job is never lost between the two.
    arguments.insert("x-dead-letter-strategy".into(), long_string("at-least-once"));
    // Required by at-least-once dead-lettering (RabbitMQ refuses drop-head with it).
    // With no length limit set it never rejects a publish; if an operator adds one by
    // policy, publishers get a negative confirm instead of old jobs being dropped.
    arguments.insert("x-overflow".into(), long_string("reject-publish"));
    arguments
}

fn dead_letter_queue_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    // Quorum like the job queues: at-least-once dead-lettering is only as safe as the
    // queue it moves messages into. No delivery limit and no DLX: messages wait here
    // until an operator inspects or replays them.
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    arguments
}

/// Deletes everything [`declare_topology`] and `declare_delay_queues` declared under
/// `names`, messages included.
/// For tests and for tearing down a prefix; never needed in normal operation.
pub async fn delete_topology(connection: &Connection, names: &Names) -> Result<(), Error> {
    let channel = connection.create_channel().await?;
    let mut queues = vec![names.dead_letter_watch_queue()];
    let mut exchanges = vec![names.exchange(), names.dead_letter_exchange()];
    for job_type in JobType::ALL {
        queues.extend([names.queue(job_type), names.dead_letter_queue(job_type)]);
        queues.extend((0..super::MAX_DELAY_LEVELS).map(|level| names.delay_queue(job_type, level)));
        exchanges.extend([names.delay_exchange(job_type), names.retry_exchange(job_type)]);
    }
    for queue in queues {
        // Deleting a queue that was never declared (a level not in use) succeeds.
        channel.queue_delete(short_string(&queue)?, QueueDeleteOptions::default()).await?;
    }
    for exchange in exchanges {
        channel.exchange_delete(short_string(&exchange)?, Default::default()).await?;
    }
    channel.close(200, "OK".into()).await.ok();
    Ok(())
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}
