//! How far behind a durable events consumer is: the age of the oldest event it has
//! not yet delivered.

use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, consumer::PullConsumer};

use crate::Names;
use crate::error::{Error, nats_error};

/// The backlog of one durable events consumer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Backlog {
    client: Client,
    names: Names,
    durable_name: String,
}

impl Backlog {
    /// The backlog of durable consumer `durable_name` on the events stream of `names`.
    pub fn new(client: Client, names: Names, durable_name: impl Into<String>) -> Self {
        Self { client, names, durable_name: durable_name.into() }
    }

    /// See [`backlog_age`].
    pub async fn age(&self) -> Result<Duration, Error> {
        backlog_age(&self.client, &self.names, &self.durable_name).await
    }
}

/// How long the oldest event that durable consumer `durable_name` has not yet
/// delivered has waited since JetStream stored it: zero when every event has been
/// delivered. The consumer is shared by every replica of its reader, so this says
/// whether they keep up together.
///
/// Delivered but unacknowledged events do not count: one event redelivered over and
/// over (or one replica's few buffered events) must not make the whole reader look
/// behind; the backlog of a reader that stopped taking events grows here.
pub async fn backlog_age(
    client: &Client,
    names: &Names,
    durable_name: &str,
) -> Result<Duration, Error> {
    let stream_name = names.events_stream();
    let doing = format!("measuring the backlog of consumer {durable_name} on {stream_name}");
    let mut stream = jetstream::new(client.clone())
        .get_stream(&stream_name)
        .await
        .map_err(|error| nats_error(&doing, error))?;
    let mut consumer: PullConsumer =
        stream.get_consumer(durable_name).await.map_err(|error| nats_error(&doing, error))?;
    let info = consumer.info().await.map_err(|error| nats_error(&doing, error))?;
    if info.num_pending == 0 {
        return Ok(Duration::ZERO);
    }
    // The consumer delivers in stream order, so the event after the last one it
    // delivered is the oldest waiting (unless the stream has aged it out already).
    let first_held =
        stream.info().await.map_err(|error| nats_error(&doing, error))?.state.first_sequence;
    let oldest = (info.delivered.stream_sequence + 1).max(first_held);
    let message =
        stream.get_raw_message(oldest).await.map_err(|error| nats_error(&doing, error))?;
    let stored_nanos = message.time.unix_timestamp_nanos();
    let now_nanos = i128::from(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX));
    let waited = u64::try_from((now_nanos - stored_nanos).max(0)).unwrap_or(u64::MAX);
    Ok(Duration::from_nanos(waited))
}
