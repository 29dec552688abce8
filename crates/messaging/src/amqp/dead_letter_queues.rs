//! Reading a dead-letter queue for operators (jobsctl): every message taken is held
//! unacknowledged until it is either removed (after its replay was confirmed) or
//! handed back, so a crash of the reader loses nothing.

use std::collections::BTreeSet;

use bgjobs_domain::JobType;
use bgjobs_proto::v1::JobMessage;
use chrono::{DateTime, Utc};
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection};
use prost::Message;

use super::consumer::{header_text, integer};
use super::delay::{LEVEL_HEADER, RETRIES_HEADER};
use super::{queue_stats, short_string};
use crate::{Error, Names};

/// Header counting how often operators replayed a message (1 after the first replay).
pub const REPLAYS_HEADER: &str = "x-bgjobs-replays";
/// Header naming the operator of the latest replay.
pub const REPLAYED_BY_HEADER: &str = "x-bgjobs-replayed-by";

/// One dead-lettering of a message, from the `x-death` header RabbitMQ adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The queue the message was dead-lettered from.
    pub queue: String,
    /// Why: `delivery_limit`, `rejected`, `expired` or `maxlen`.
    pub reason: String,
    /// How many times it was dead-lettered from that queue for that reason.
    pub count: u64,
    /// When it last was (whole seconds), if the broker said.
    pub time: Option<DateTime<Utc>>,
}

/// A message taken from a dead-letter queue and held until settled.
#[derive(Debug, Clone)]
pub struct DlqMessage {
    /// The dead-letter queue it was read from.
    pub queue: String,
    /// The job type of that queue.
    pub job_type: JobType,
    /// The job message, or why the body is not one.
    pub message: Result<JobMessage, String>,
    /// The AMQP message id, `<job id>:<attempt>`.
    pub message_id: Option<String>,
    /// Every header as the broker delivered it.
    pub headers: FieldTable,
    /// The message's properties (content type, timestamp, delivery mode...).
    pub properties: BasicProperties,
    /// Its dead-letterings, most recent first.
    pub deaths: Vec<Death>,
    delivery_tag: u64,
}

impl DlqMessage {
    /// Why it was dead-lettered, e.g. "delivery_limit in bgjobs.product-upload"
    /// (RabbitMQ's `x-first-death-reason` and `x-first-death-queue`).
    pub fn cause(&self) -> String {
        let headers = Some(&self.headers);
        let first = self.deaths.last();
        let reason = header_text(headers, "x-first-death-reason")
            .or_else(|| first.map(|death| death.reason.clone()));
        let queue = header_text(headers, "x-first-death-queue")
            .or_else(|| first.map(|death| death.queue.clone()));
        match (reason, queue) {
            (Some(reason), Some(queue)) => format!("{reason} in {queue}"),
            (Some(reason), None) => reason,
            _ => "unknown (no x-death header)".to_owned(),
        }
    }

    /// How many times the message was dead-lettered since it was last published.
    pub fn death_count(&self) -> u64 {
        self.deaths.iter().map(|death| death.count).sum()
    }

    /// When it was last dead-lettered, if the broker said.
    pub fn dead_lettered_at(&self) -> Option<DateTime<Utc>> {
        self.deaths.iter().filter_map(|death| death.time).max()
    }

    /// How often operators replayed it before (`x-bgjobs-replays`, 0 when absent).
    pub fn replays(&self) -> u32 {
        self.headers
            .inner()
            .get(REPLAYS_HEADER)
            .and_then(integer)
            .and_then(|count| u32::try_from(count).ok())
            .unwrap_or(0)
    }

    /// The headers of its replay by `operator`: the publisher's own (such as
    /// `traceparent`) are kept; the broker's bookkeeping (`x-death`,
    /// `x-first-death-*`, `x-delivery-count`, any other `x-` header) is dropped, so the
    /// replayed message starts afresh on the job queue (a stale `x-delivery-count` would
    /// misnumber its deliveries, a stale `x-death` could make RabbitMQ take a second
    /// dead-lettering for a cycle and drop it); `x-bgjobs-replays` is counted up and
    /// `x-bgjobs-replayed-by` names the operator. The retry bookkeeping of the copy
    /// that died (`bgjobs-retries`, `bgjobs-delay-level`) is dropped too: retries are
    /// counted per attempt, and the replay gets its full share.
    pub fn replay_headers(&self, operator: &str) -> FieldTable {
        let mut headers = FieldTable::default();
        for (name, value) in self.headers.inner() {
            let retry_bookkeeping = [RETRIES_HEADER, LEVEL_HEADER].contains(&name.as_str());
            if !name.as_str().starts_with("x-") && !retry_bookkeeping {
                headers.insert(name.clone(), value.clone());
            }
        }
        headers
            .insert(REPLAYS_HEADER.into(), AMQPValue::LongLongInt(i64::from(self.replays()) + 1));
        headers
            .insert(REPLAYED_BY_HEADER.into(), AMQPValue::LongString(LongString::from(operator)));
        headers
    }
}

/// Reads one dead-letter queue, at most as many messages as it held when opened.
///
/// The bound matters: messages handed back are delivered again first, so a reader
/// that went on until the queue looked empty could loop over them for ever. Messages
/// are held unacknowledged (RabbitMQ never gives a held message to anyone else) until
/// [`remove`](Self::remove) or [`hand_back`](Self::hand_back); if the reader dies,
/// RabbitMQ returns them to the queue.
pub struct DlqReader {
    channel: Channel,
    queue: String,
    job_type: JobType,
    remaining: u32,
    held: BTreeSet<u64>,
}

impl DlqReader {
    /// Opens a reader of `job_type`'s dead-letter queue on a channel of its own.
    pub async fn open(
        connection: &Connection,
        names: &Names,
        job_type: JobType,
    ) -> Result<Self, Error> {
        let queue = names.dead_letter_queue(job_type);
        let remaining =
            queue_stats(connection, &queue).await?.map(|stats| stats.messages).unwrap_or(0);
        let channel = connection.create_channel().await?;
        Ok(Self { channel, queue, job_type, remaining, held: BTreeSet::new() })
    }

    /// The dead-letter queue this reader reads.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The next message, held until settled; `None` once as many messages as the queue
    /// held at the start were read, or the queue is empty.
    pub async fn next(&mut self) -> Result<Option<DlqMessage>, Error> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let options = BasicGetOptions { no_ack: false };
        let Some(got) = self.channel.basic_get(short_string(&self.queue)?, options).await? else {
            self.remaining = 0;
            return Ok(None);
        };
        self.remaining -= 1;
        let delivery = got.delivery;
        self.held.insert(delivery.delivery_tag);
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        Ok(Some(DlqMessage {
            queue: self.queue.clone(),
            job_type: self.job_type,
            message: JobMessage::decode(delivery.data.as_slice()).map_err(|e| e.to_string()),
            message_id: delivery.properties.message_id().as_ref().map(|id| id.as_str().to_owned()),
            deaths: deaths(&headers),
            headers,
            properties: delivery.properties,
            delivery_tag: delivery.delivery_tag,
        }))
    }

    /// Removes `letter` from the queue (acknowledges it). Only after its replay was
    /// confirmed: this is the step that makes the dead letter go away.
    pub async fn remove(&mut self, letter: &DlqMessage) -> Result<(), Error> {
        self.channel.basic_ack(letter.delivery_tag, BasicAckOptions::default()).await?;
        self.held.remove(&letter.delivery_tag);
        Ok(())
    }

    /// Hands every message still held back to the queue, in the order they were read,
    /// and closes the channel.
    pub async fn hand_back(self) -> Result<(), Error> {
        if let Some(&last) = self.held.last() {
            // One nack for all: RabbitMQ returns them in delivery order, so messages
            // that were not replayed keep their order at the head of the queue.
            let options = BasicNackOptions { multiple: true, requeue: true };
            self.channel.basic_nack(last, options).await?;
        }
        self.channel.close(200, "OK".into()).await?;
        Ok(())
    }
}

/// The `x-death` entries of `headers`, most recent first.
fn deaths(headers: &FieldTable) -> Vec<Death> {
    let Some(AMQPValue::FieldArray(entries)) = headers.inner().get("x-death") else {
        return Vec::new();
    };
    entries
        .as_slice()
        .iter()
        .filter_map(|entry| match entry {
            AMQPValue::FieldTable(table) => Some(death(table)),
            _ => None,
        })
        .collect()
}

fn death(table: &FieldTable) -> Death {
    let time = match table.inner().get("time") {
        Some(AMQPValue::Timestamp(seconds)) => {
            i64::try_from(*seconds).ok().and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        }
        _ => None,
    };
    Death {
        queue: header_text(Some(table), "queue").unwrap_or_default(),
        reason: header_text(Some(table), "reason").unwrap_or_default(),
        count: table
            .inner()
            .get("count")
            .and_then(integer)
            .and_then(|count| u64::try_from(count).ok())
            .unwrap_or(0),
        time,
    }
}

#[cfg(test)]
mod tests {
    use lapin::types::FieldArray;

    use crate::amqp::delay::DELIVERIES_HEADER;

    use super::*;

    fn text(value: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(value))
    }

    fn letter(headers: FieldTable) -> DlqMessage {
        DlqMessage {
            queue: "bgjobs.product-upload.dlq".into(),
            job_type: JobType::ProductUpload,
            message: Ok(JobMessage::default()),
            message_id: None,
            deaths: deaths(&headers),
            headers,
            properties: BasicProperties::default(),
            delivery_tag: 1,
        }
    }

    fn broker_headers() -> FieldTable {
        let mut death = FieldTable::default();
        death.insert("queue".into(), text("bgjobs.product-upload"));
        death.insert("reason".into(), text("delivery_limit"));
        death.insert("count".into(), AMQPValue::LongLongInt(1));
        death.insert("time".into(), AMQPValue::Timestamp(1_800_000_000));
        let mut headers = FieldTable::default();
        headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        );
        headers.insert("x-first-death-reason".into(), text("delivery_limit"));
        headers.insert("x-first-death-queue".into(), text("bgjobs.product-upload"));
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(2));
        headers.insert("traceparent".into(), text("00-ab-cd-01"));
        headers
    }

    #[test]
    fn a_replay_starts_its_retries_afresh_and_keeps_counting_deliveries() {
        let mut headers = broker_headers();
        headers.insert(RETRIES_HEADER.into(), AMQPValue::LongLongInt(5));
        headers.insert(LEVEL_HEADER.into(), AMQPValue::LongLongInt(4));
        headers.insert(DELIVERIES_HEADER.into(), AMQPValue::LongLongInt(6));
        let replayed = letter(headers).replay_headers("oscar");
        assert_eq!(replayed.inner().get(RETRIES_HEADER), None);
        assert_eq!(replayed.inner().get(LEVEL_HEADER), None);
        assert_eq!(replayed.inner().get(DELIVERIES_HEADER), Some(&AMQPValue::LongLongInt(6)));
    }

    #[test]
    fn the_cause_count_and_time_come_from_the_broker_headers() {
        let letter = letter(broker_headers());
        assert_eq!(letter.cause(), "delivery_limit in bgjobs.product-upload");
        assert_eq!(letter.death_count(), 1);
        assert_eq!(letter.dead_lettered_at(), DateTime::from_timestamp(1_800_000_000, 0));
        assert_eq!(letter.replays(), 0);
    }

    #[test]
    fn a_message_without_death_headers_has_an_unknown_cause() {
        let letter = letter(FieldTable::default());
        assert_eq!(letter.cause(), "unknown (no x-death header)");
        assert_eq!((letter.death_count(), letter.dead_lettered_at()), (0, None));
    }

    #[test]
    fn a_replay_keeps_the_publisher_headers_drops_the_broker_ones_and_counts_up() {
        let first = letter(broker_headers()).replay_headers("oscar");
        let names: Vec<&str> = first.inner().keys().map(|name| name.as_str()).collect();
        assert_eq!(names, ["traceparent", REPLAYED_BY_HEADER, REPLAYS_HEADER]);
        assert_eq!(first.inner().get(REPLAYS_HEADER), Some(&AMQPValue::LongLongInt(1)));

        let mut dead_again = first.clone();
        dead_again.insert("x-first-death-reason".into(), text("delivery_limit"));
        let second = letter(dead_again).replay_headers("olga");
        assert_eq!(second.inner().get(REPLAYS_HEADER), Some(&AMQPValue::LongLongInt(2)));
        assert_eq!(header_text(Some(&second), REPLAYED_BY_HEADER).as_deref(), Some("olga"));
    }
}
