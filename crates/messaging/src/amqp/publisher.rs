//! Publishing job messages with publisher confirms.

use bgjobs_domain::{JobId, JobType};
use bgjobs_proto::v1::{JobMessage, JobType as WireJobType};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use prost::Message;

use super::delay::{DELIVERIES_HEADER, Delay, LEVEL_HEADER, RETRIES_HEADER};
use super::short_string;
use crate::{Error, Names};

/// The content type of every job message body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// AMQP delivery mode 2: the broker writes the message to disk (quorum queues
/// always do; this also keeps it persistent if it is ever routed to a classic queue).
const PERSISTENT: u8 = 2;

/// Publisher with publisher confirms on its own channel.
///
/// Cheap to clone; clones share the channel. Publishes from many tasks may run
/// concurrently: each waits for its own confirm.
#[derive(Clone)]
pub struct JobPublisher {
    channel: Channel,
    exchange: String,
    names: Names,
}

impl JobPublisher {
    /// Opens a channel in confirm mode for publishing to `names.exchange()` (and, for
    /// retries, to the delay exchange of the message's type).
    pub async fn new(connection: &Connection, names: &Names) -> Result<Self, Error> {
        let channel = connection.create_channel().await?;
        // Publisher confirms: the broker acks a message only once every queue it was
        // routed to has it (for quorum queues: on a majority of nodes), which is what
        // lets ingest tell the registry a job is queued.
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(Self { channel, exchange: names.exchange(), names: names.clone() })
    }

    /// Publishes to the exchange with routing key = job type, persistent, message_id
    /// `<job id>:<attempt>`, content-type application/x-protobuf, header "traceparent"
    /// when given; returns only once the broker confirmed (ack). A nack or an
    /// unroutable return (mandatory flag) is an error.
    pub async fn publish(
        &self,
        message: &JobMessage,
        traceparent: Option<&str>,
    ) -> Result<(), Error> {
        let headers = trace_headers(traceparent);
        self.publish_to(&self.exchange, message, headers, None).await
    }

    /// Publishes `message` again after a transient fault of its delivery number
    /// `delivery`, to wait `delay.delay` in its type's delay queue of `delay.level`
    /// before it returns to its type's queue; confirmed like [`Self::publish`]. The copy counts
    /// `delay.level + 1` retries and `delivery` earlier deliveries.
    pub async fn publish_delayed(
        &self,
        message: &JobMessage,
        traceparent: Option<&str>,
        delivery: u32,
        delay: Delay,
    ) -> Result<(), Error> {
        let mut headers = trace_headers(traceparent);
        headers.insert(LEVEL_HEADER.into(), AMQPValue::LongLongInt(i64::from(delay.level)));
        headers.insert(RETRIES_HEADER.into(), AMQPValue::LongLongInt(i64::from(delay.level) + 1));
        headers.insert(DELIVERIES_HEADER.into(), AMQPValue::LongLongInt(i64::from(delivery)));
        // Per-message TTL in milliseconds, as text; at least 1 so it never means "now".
        let expiration = delay.delay.as_millis().max(1).to_string();
        let delay_exchange = self.names.delay_exchange(job_type_of(message)?);
        self.publish_to(&delay_exchange, message, headers, Some(&expiration)).await
    }

    /// Like [`Self::publish`], with `headers` as the message's headers (an operator's
    /// replay carries its provenance headers and the original traceparent).
    pub async fn publish_with_headers(
        &self,
        message: &JobMessage,
        headers: FieldTable,
    ) -> Result<(), Error> {
        self.publish_to(&self.exchange, message, headers, None).await
    }

    async fn publish_to(
        &self,
        exchange: &str,
        message: &JobMessage,
        headers: FieldTable,
        expiration: Option<&str>,
    ) -> Result<(), Error> {
        let job_type = job_type_of(message)?;
        let job_id: JobId = message
            .job_id
            .parse()
            .map_err(|error| Error::InvalidMessage(format!("job message: {error}")))?;
        let message_id = format!("{job_id}:{}", message.attempt);

        let mut properties = BasicProperties::default()
            .with_message_id(short_string(&message_id)?)
            .with_content_type(CONTENT_TYPE.into())
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers);
        if let Some(expiration) = expiration {
            properties = properties.with_expiration(short_string(expiration)?);
        }
        // Mandatory: a message no queue is bound for comes back instead of silently
        // vanishing, so publishing before the topology exists is an error, not a lost job.
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };

        let confirmation = self
            .channel
            .basic_publish(
                short_string(exchange)?,
                short_string(job_type.as_str())?,
                options,
                &message.encode_to_vec(),
                properties,
            )
            .await?
            .await?;
        match confirmation {
            // The broker acks a returned message too (it "handled" it): check for it first.
            Confirmation::Ack(Some(_returned)) => {
                Err(Error::Unroutable { routing_key: job_type.as_str().to_owned() })
            }
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Nack(_) | Confirmation::NotRequested => Err(Error::Nacked { message_id }),
        }
    }
}

/// The "traceparent" header when there is a trace context.
fn trace_headers(traceparent: Option<&str>) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(traceparent) = traceparent {
        headers.insert("traceparent".into(), AMQPValue::LongString(LongString::from(traceparent)));
    }
    headers
}

/// The domain job type of a wire message; unspecified or unknown types are refused.
pub(crate) fn job_type_of(message: &JobMessage) -> Result<JobType, Error> {
    match WireJobType::try_from(message.job_type) {
        Ok(WireJobType::ProductUpload) => Ok(JobType::ProductUpload),
        Ok(WireJobType::WarehouseUpload) => Ok(JobType::WarehouseUpload),
        Ok(WireJobType::DeleteClient) => Ok(JobType::DeleteClient),
        Ok(WireJobType::Unspecified) | Err(_) => Err(Error::InvalidMessage(format!(
            "job message {} has no known job type (got {})",
            message.job_id, message.job_type
        ))),
    }
}
