//! The dead-letter watch queue: a copy of every dead-lettered job message, so that
//! ingest can move its job to Error (the per-type DLQs keep theirs for operators).

use bgjobs_proto::v1::JobMessage;
use futures::{Stream, StreamExt};
use lapin::Acker;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use prost::Message;

use super::consumer::{header_text, integer};
use super::short_string;
use crate::{Error, Names};

/// One dead-lettered job message, taken from the watch queue with manual ack.
#[derive(Debug)]
pub struct DeadLetter {
    /// The job message, or why its body is not one.
    pub message: Result<JobMessage, prost::DecodeError>,
    /// Why the broker gave up on it, in words, e.g. "dead-lettered after 6
    /// deliveries: the delivery limit was reached".
    pub cause: String,
    acker: Acker,
}

impl DeadLetter {
    /// Done with: it leaves the watch queue.
    pub async fn ack(self) -> Result<(), Error> {
        self.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    /// Not handled now (the registry is unreachable): back to the watch queue.
    pub async fn requeue(self) -> Result<(), Error> {
        self.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
        Ok(())
    }
}

/// Consumes the dead-letter watch queue, one message at a time. `delivery_limit` is
/// the job queues' (RabbitMQ 3.10 does not say in the dead letter how often a message
/// was delivered; it is limit + 1 times).
pub async fn consume_dead_letters(
    connection: &Connection,
    names: &Names,
    consumer_tag: &str,
    delivery_limit: u32,
) -> Result<impl Stream<Item = Result<DeadLetter, Error>> + Send + Unpin + use<>, Error> {
    let channel = connection.create_channel().await?;
    channel.basic_qos(1, BasicQosOptions { global: false }).await?;
    let consumer = channel
        .basic_consume(
            short_string(&names.dead_letter_watch_queue())?,
            short_string(consumer_tag)?,
            BasicConsumeOptions { no_ack: false, exclusive: false, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    let dead_letters = consumer.map(move |delivery| {
        delivery.map(|delivery| dead_letter(delivery, delivery_limit)).map_err(Error::from)
    });
    Ok(dead_letters.boxed())
}

fn dead_letter(delivery: Delivery, delivery_limit: u32) -> DeadLetter {
    let headers = delivery.properties.headers().as_ref();
    DeadLetter {
        message: JobMessage::decode(delivery.data.as_slice()),
        cause: cause(headers, delivery_limit),
        acker: delivery.acker,
    }
}

/// The cause of a dead-lettering from the headers RabbitMQ adds: the reason of the
/// latest `x-death` entry (not `x-first-death-reason`: a retried message was first
/// dead-lettered by its delay queue, "expired") and, for a delivery limit, the
/// deliveries: `x-delivery-count` + 1 when the broker kept it, else `delivery_limit` + 1.
fn cause(headers: Option<&FieldTable>, delivery_limit: u32) -> String {
    let reason = latest_death_field(headers, "reason")
        .or_else(|| header_text(headers, "x-first-death-reason"))
        .unwrap_or_else(|| "unknown".to_owned());
    match reason.as_str() {
        "delivery_limit" => {
            let returns = headers
                .and_then(|headers| headers.inner().get("x-delivery-count"))
                .and_then(integer)
                .unwrap_or(i64::from(delivery_limit));
            format!(
                "dead-lettered after {} deliveries: the delivery limit was reached",
                returns.saturating_add(1)
            )
        }
        "rejected" => "dead-lettered: the consumer gave up on the message".to_owned(),
        "expired" => "dead-lettered: the message expired in the queue".to_owned(),
        other => format!("dead-lettered ({other})"),
    }
}

/// A field of the latest entry of the `x-death` array (RabbitMQ puts it first).
fn latest_death_field(headers: Option<&FieldTable>, field: &str) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(latest) = deaths.as_slice().first()? else {
        return None;
    };
    header_text(Some(latest), field)
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldArray, LongString};

    use super::*;

    fn headers(entries: &[(&str, AMQPValue)]) -> FieldTable {
        let mut table = FieldTable::default();
        for (name, value) in entries {
            table.insert((*name).into(), value.clone());
        }
        table
    }

    fn text(value: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(value))
    }

    #[test]
    fn a_delivery_limit_names_the_deliveries() {
        let death = headers(&[("reason", text("delivery_limit"))]);
        let deaths = FieldArray::from(vec![AMQPValue::FieldTable(death)]);
        let table = headers(&[
            ("x-death", AMQPValue::FieldArray(deaths)),
            ("x-delivery-count", AMQPValue::LongLongInt(5)),
        ]);
        assert_eq!(
            cause(Some(&table), 2),
            "dead-lettered after 6 deliveries: the delivery limit was reached"
        );
        let without_count = headers(&[("x-first-death-reason", text("delivery_limit"))]);
        assert_eq!(
            cause(Some(&without_count), 2),
            "dead-lettered after 3 deliveries: the delivery limit was reached"
        );
    }

    #[test]
    fn the_latest_death_counts_not_the_delay_queue_expiry_before_it() {
        let latest = headers(&[("reason", text("rejected"))]);
        let delayed = headers(&[("reason", text("expired"))]);
        let deaths =
            FieldArray::from(vec![AMQPValue::FieldTable(latest), AMQPValue::FieldTable(delayed)]);
        let table = headers(&[
            ("x-death", AMQPValue::FieldArray(deaths)),
            ("x-first-death-reason", text("expired")),
        ]);
        assert_eq!(cause(Some(&table), 5), "dead-lettered: the consumer gave up on the message");
        assert_eq!(cause(None, 5), "dead-lettered (unknown)");
    }
}
