//! Consuming job messages with manual acks.

use std::pin::Pin;
use std::task::{Context, Poll};

use bgjobs_domain::JobType;
use bgjobs_proto::v1::JobMessage;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Acker, Channel, Connection};
use prost::Message;

use super::delay::{DELIVERIES_HEADER, Delay, RETRIES_HEADER};
use super::{JobPublisher, short_string};
use crate::{Error, Names};

/// One delivery taken from a job queue, with manual ack.
///
/// Settle it with exactly one of [`ack`](Self::ack), [`requeue`](Self::requeue) or
/// [`dead_letter`](Self::dead_letter). One that is dropped unsettled stays with the
/// consumer until its stream is dropped, then RabbitMQ delivers it again.
#[derive(Debug)]
pub struct JobDelivery {
    /// The decoded job message.
    pub message: JobMessage,
    /// 1 for the first delivery, +1 for each return to the queue (1 + x-delivery-count)
    /// and for each delivery of the copies retried before this one.
    pub delivery: u32,
    /// How many delayed retries came before this copy of the message.
    pub retries: u32,
    /// The W3C trace context the publisher sent, if any.
    pub traceparent: Option<String>,
    /// The AMQP message id, `<job id>:<attempt>` (None if the publisher set none).
    pub message_id: Option<String>,
    acker: Acker,
}

impl JobDelivery {
    /// Acknowledges the message: it is done and leaves the queue.
    pub async fn ack(self) -> Result<(), Error> {
        let settled = self.acker.ack(BasicAckOptions::default()).await?;
        self.settled(settled)
    }

    /// Puts the message back in the queue for another try (nack requeue=true). Each
    /// return counts toward the queue's delivery limit.
    pub async fn requeue(self) -> Result<(), Error> {
        let settled =
            self.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
        self.settled(settled)
    }

    /// Puts the message off after a transient fault: a copy waits `delay` in its
    /// delay queue (confirmed by the broker), then this one is acked. If the copy
    /// cannot be published, the message is requeued instead.
    pub async fn retry_later(self, publisher: &JobPublisher, delay: Delay) -> Result<(), Error> {
        let traceparent = self.traceparent.as_deref();
        match publisher.publish_delayed(&self.message, traceparent, self.delivery, delay).await {
            Ok(()) => self.ack().await,
            Err(error) => {
                tracing::warn!(%error, "could not put the message off; requeueing it now");
                self.requeue().await
            }
        }
    }

    /// Sends the message to its dead-letter queue (nack requeue=false).
    pub async fn dead_letter(self) -> Result<(), Error> {
        let settled =
            self.acker.nack(BasicNackOptions { requeue: false, ..Default::default() }).await?;
        self.settled(settled)
    }

    fn settled(self, settled: bool) -> Result<(), Error> {
        if settled {
            Ok(())
        } else {
            Err(Error::ChannelClosed { message_id: self.message_id.unwrap_or_default() })
        }
    }
}

/// The deliveries of one job queue's consumer (see [`consume`]).
pub struct JobDeliveries {
    deliveries: BoxStream<'static, Result<JobDelivery, Error>>,
    channel: Channel,
    consumer_tag: ShortString,
}

impl JobDeliveries {
    /// Asks RabbitMQ to deliver nothing more to this consumer (basic.cancel), as a
    /// worker shutting down does. Deliveries already taken can still be settled.
    pub async fn cancel(&mut self) -> Result<(), Error> {
        self.channel.basic_cancel(self.consumer_tag.clone(), BasicCancelOptions::default()).await?;
        Ok(())
    }
}

impl Stream for JobDeliveries {
    type Item = Result<JobDelivery, Error>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.deliveries.poll_next_unpin(context)
    }
}

/// Consumes one job type's queue on its own channel with `basic_qos(prefetch)`.
///
/// A body that does not decode as `JobMessage` is dead-lettered and logged (never
/// silently dropped, never redelivered forever) and not yielded. The stream ends
/// when the consumer is cancelled or its channel closes; dropping it closes the
/// channel, and RabbitMQ redelivers whatever was not settled.
pub async fn consume(
    connection: &Connection,
    names: &Names,
    job_type: JobType,
    prefetch: u16,
    consumer_tag: &str,
) -> Result<JobDeliveries, Error> {
    let queue = names.queue(job_type);
    let channel = connection.create_channel().await?;
    // Prefetch bounds how many unacked jobs this consumer holds at once: jobs are
    // heavy, so a small window spreads them across consumer replicas instead of one
    // replica hoarding the queue. Per consumer (global: false), which is what quorum
    // queues support.
    channel.basic_qos(prefetch, BasicQosOptions { global: false }).await?;
    let consumer = channel
        .basic_consume(
            short_string(&queue)?,
            short_string(consumer_tag)?,
            // Manual acks (no_ack: false): a job is settled only after it was processed,
            // so a crash mid-job redelivers it. Not exclusive: consumers scale out.
            BasicConsumeOptions { no_ack: false, exclusive: false, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    let consumer_tag = consumer.tag();
    // The consumer keeps its channel open for as long as the stream lives.
    let deliveries = consumer.filter_map(move |delivery| {
        let queue = queue.clone();
        async move {
            match delivery {
                Ok(delivery) => decode_or_dead_letter(delivery, &queue).await.map(Ok),
                Err(error) => Some(Err(Error::from(error))),
            }
        }
    });
    Ok(JobDeliveries { deliveries: deliveries.boxed(), channel, consumer_tag })
}

async fn decode_or_dead_letter(delivery: Delivery, queue: &str) -> Option<JobDelivery> {
    let message_id = delivery.properties.message_id().as_ref().map(|id| id.as_str().to_owned());
    match JobMessage::decode(delivery.data.as_slice()) {
        Ok(message) => Some(JobDelivery {
            message,
            delivery: delivery_number(delivery.properties.headers().as_ref()),
            retries: counter(delivery.properties.headers().as_ref(), RETRIES_HEADER),
            traceparent: header_text(delivery.properties.headers().as_ref(), "traceparent"),
            message_id,
            acker: delivery.acker,
        }),
        Err(error) => {
            tracing::error!(
                queue,
                message_id = message_id.as_deref().unwrap_or(""),
                bytes = delivery.data.len(),
                %error,
                "dead-lettering a message whose body is not a JobMessage"
            );
            let nacked = delivery
                .acker
                .nack(BasicNackOptions { requeue: false, ..Default::default() })
                .await;
            if let Err(error) = nacked {
                // The channel is gone: the message will be redelivered and dead-lettered then.
                tracing::warn!(queue, %error, "could not dead-letter an undecodable message");
            }
            None
        }
    }
}

/// 1 + the `x-delivery-count` header quorum queues add once a message was returned,
/// + the deliveries of the copies retried before this one.
fn delivery_number(headers: Option<&FieldTable>) -> u32 {
    let returns = counter(headers, "x-delivery-count");
    counter(headers, DELIVERIES_HEADER).saturating_add(returns).saturating_add(1)
}

/// A non-negative integer header; absent or unreadable counts as 0.
fn counter(headers: Option<&FieldTable>, name: &str) -> u32 {
    let value = headers.and_then(|headers| headers.inner().get(name)).and_then(integer);
    value.map_or(0, |value| u32::try_from(value.max(0)).unwrap_or(u32::MAX))
}

/// An AMQP integer of any width.
pub(super) fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        _ => None,
    }
}

/// A text header of either string type.
pub(super) fn header_text(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(name)? {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use lapin::types::LongString;

    use super::*;

    #[test]
    fn the_first_delivery_has_no_delivery_count_header() {
        assert_eq!(delivery_number(None), 1);
        assert_eq!(delivery_number(Some(&FieldTable::default())), 1);
    }

    #[test]
    fn each_return_counted_by_the_broker_adds_one() {
        let mut headers = FieldTable::default();
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(2));
        assert_eq!(delivery_number(Some(&headers)), 3);
    }

    #[test]
    fn deliveries_of_earlier_copies_keep_the_number_growing() {
        let mut headers = FieldTable::default();
        headers.insert(DELIVERIES_HEADER.into(), AMQPValue::LongLongInt(3));
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(1));
        headers.insert(RETRIES_HEADER.into(), AMQPValue::LongLongInt(2));
        assert_eq!(delivery_number(Some(&headers)), 5);
        assert_eq!(counter(Some(&headers), RETRIES_HEADER), 2);
        assert_eq!(counter(None, RETRIES_HEADER), 0);
    }

    #[test]
    fn traceparent_is_read_from_either_string_type() {
        let mut headers = FieldTable::default();
        headers
            .insert("traceparent".into(), AMQPValue::LongString(LongString::from("00-ab-cd-01")));
        assert_eq!(header_text(Some(&headers), "traceparent").as_deref(), Some("00-ab-cd-01"));
        assert_eq!(header_text(Some(&headers), "missing"), None);
    }
}
