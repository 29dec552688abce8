//! Durable pull consumers of job events.

use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, AckKind, consumer};
use bgjobs_proto::v1::JobEvent;
use futures::{Stream, StreamExt};
use prost::Message;

use crate::Names;
use crate::error::{Error, nats_error};

/// How a durable events consumer treats unacknowledged events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// How long an event may stay unacknowledged before JetStream delivers it again.
    pub ack_wait: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        // Long enough for the registry to apply an event under load, short enough that
        // a crashed registry's in-flight events come back quickly after a restart.
        Self { ack_wait: Duration::from_secs(30) }
    }
}

/// One job event taken from a durable consumer. Settle it with [`ack`](Self::ack),
/// [`nak`](Self::nak) or [`term`](Self::term); one left unsettled is delivered again
/// after the ack wait.
#[derive(Debug)]
pub struct ReceivedEvent {
    /// The decoded event.
    pub event: JobEvent,
    /// The W3C trace context the publisher sent, if any.
    pub traceparent: Option<String>,
    /// How many times JetStream has delivered this event to this consumer (1 the first time).
    pub delivered: u64,
    message: jetstream::Message,
}

impl ReceivedEvent {
    /// Acknowledges the event and waits until the server has recorded the ack, so an
    /// acked event is never redelivered to this durable consumer.
    pub async fn ack(self) -> Result<(), Error> {
        self.message.double_ack().await.map_err(|error| nats_error("acknowledging an event", error))
    }

    /// Asks for the event to be delivered again now (e.g. the database is unavailable).
    pub async fn nak(self) -> Result<(), Error> {
        self.message
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(|error| nats_error("negatively acknowledging an event", error))
    }

    /// Stops redelivery of an event that can never be applied, without counting it as
    /// processed. Log why before calling it.
    pub async fn term(self) -> Result<(), Error> {
        self.message
            .ack_with(AckKind::Term)
            .await
            .map_err(|error| nats_error("terminating an event", error))
    }

    /// Hands the event back unapplied at shutdown: it is delivered again (to another
    /// replica sharing the durable consumer) after [`PULL_EXPIRES`] and a little, past
    /// the pull request this replica may still have open; see [`hand_back`].
    pub async fn hand_back(self) -> Result<(), Error> {
        self.message
            .ack_with(AckKind::Nak(Some(PULL_EXPIRES + PULL_HEARTBEAT)))
            .await
            .map_err(|error| nats_error("handing back an event", error))
    }
}

/// A durable pull consumer over all events with default [`ConsumerSettings`]:
/// created if missing, resumed if present.
pub async fn durable_events(
    client: &Client,
    names: &Names,
    durable_name: &str,
) -> Result<impl Stream<Item = Result<ReceivedEvent, Error>> + Send + Unpin + use<>, Error> {
    durable_events_with(client, names, durable_name, &ConsumerSettings::default()).await
}

/// A durable pull consumer over all events: created if missing, resumed (with its
/// settings brought up to date) if present.
///
/// Explicit acks, deliver all, unlimited redeliveries. A message whose body does not
/// decode as `JobEvent` is terminated with an error log and not yielded. An `Err` item
/// reports a receive problem (missed heartbeats while the server is unreachable, a
/// deleted consumer); the stream goes on after it, so log it and keep polling.
pub async fn durable_events_with(
    client: &Client,
    names: &Names,
    durable_name: &str,
    settings: &ConsumerSettings,
) -> Result<impl Stream<Item = Result<ReceivedEvent, Error>> + Send + Unpin + use<>, Error> {
    let stream_name = names.events_stream();
    let doing = format!("opening durable consumer {durable_name} on stream {stream_name}");
    let stream = jetstream::new(client.clone())
        .get_stream(&stream_name)
        .await
        .map_err(|error| nats_error(&doing, error))?;
    let config = consumer::pull::Config {
        // Durable: the server remembers what was acked, so a restarted registry resumes
        // where it stopped, and several replicas of it share one cursor.
        durable_name: Some(durable_name.to_owned()),
        // Explicit: an event counts as processed only once the consumer says so.
        ack_policy: consumer::AckPolicy::Explicit,
        // All: a new consumer starts from the oldest event the stream still holds.
        deliver_policy: consumer::DeliverPolicy::All,
        // See ConsumerSettings: how long the registry may take before an event comes back.
        ack_wait: settings.ack_wait,
        // Unlimited (-1): an event the registry cannot apply yet (database down) must
        // not be dropped after a few tries; the consumer terms events that can never apply.
        max_deliver: -1,
        // No filter: the stream holds only job events. (NATS 2.9 has a single
        // filter_subject and no filter_subjects; neither is needed.)
        // max_ack_pending stays at the server default (1000). A nak'd event comes back
        // after the events already delivered behind it, and the state machine would
        // ignore it as late: so the registry retries a transiently failing event in
        // place and naks only what waiting cannot cure.
        ..Default::default()
    };
    // Create-or-update (the CONSUMER.CREATE.<stream>.<durable> API, present in NATS 2.9):
    // created if missing, resumed if present, with ack_wait brought up to date.
    let consumer =
        stream.create_consumer(config).await.map_err(|error| nats_error(&doing, error))?;
    // Pull requests carry an idle heartbeat (NATS 2.9 supports it), so a dead server
    // shows up as an error item instead of a silent stall; they expire after
    // PULL_EXPIRES (see hand_back).
    let messages = consumer
        .stream()
        .expires(PULL_EXPIRES)
        .heartbeat(PULL_HEARTBEAT)
        .messages()
        .await
        .map_err(|error| nats_error(&doing, error))?;

    let events = messages.filter_map(|message| async move {
        match message {
            Ok(message) => decode_or_terminate(message).await.map(Ok),
            Err(error) => Some(Err(nats_error("receiving events", error))),
        }
    });
    Ok(events.boxed())
}

/// Hands back, at shutdown, the events `events` has already received but not yet
/// yielded: they are taken, the stream is dropped (so nothing more is pulled), and
/// each is nak'd, so JetStream delivers it to another replica sharing the durable
/// consumer within [`PULL_EXPIRES`] and a little, instead of after the ack wait.
///
/// Why not at once: the server does not know the stream was dropped, and its last
/// pull request stays open until it expires; an event nak'd without a delay would be
/// delivered into that request again, unread, and come back only after the ack wait.
///
/// Takes what arrives within `idle` of the previous event, at most [`HAND_BACK_MAX`]
/// events and for at most `budget` in all; returns how many were handed back. Events
/// still in flight after that come back after the ack wait, as after a crash.
pub async fn hand_back<S, E>(mut events: S, idle: Duration, budget: Duration) -> usize
where
    S: Stream<Item = Result<ReceivedEvent, E>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + budget;
    let mut taken = Vec::new();
    while taken.len() < HAND_BACK_MAX {
        let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, events.next()).await {
            Ok(Some(Ok(received))) => taken.push(received),
            // Nothing more ready, the stream failing or ended.
            Ok(Some(Err(_)) | None) | Err(_) => break,
        }
    }
    // Unsubscribed first: a nak'd event must not come back to this stream.
    drop(events);
    let handed_back = taken.len();
    for received in taken {
        if let Err(error) = received.hand_back().await {
            tracing::warn!(%error, "handing back an event failed; it comes back after the ack wait");
        }
    }
    handed_back
}

/// How long a pull request of a durable events stream stays open at the server.
pub const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// The idle heartbeat of those pull requests (at most half the expiry, as the server
/// requires): a server gone quiet this long twice over is reported as an error item.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// The most events [`hand_back`] takes: about what one pull brings (the client's
/// batch), so that a busy stream cannot keep a stopping replica taking events.
pub const HAND_BACK_MAX: usize = 500;

async fn decode_or_terminate(message: jetstream::Message) -> Option<ReceivedEvent> {
    let delivered =
        message.info().map(|info| u64::try_from(info.delivered).unwrap_or(0)).unwrap_or(1);
    match JobEvent::decode(message.payload.as_ref()) {
        Ok(event) => {
            let traceparent = message
                .headers
                .as_ref()
                .and_then(|headers| headers.get("traceparent"))
                .map(|value| value.as_str().to_owned());
            Some(ReceivedEvent { event, traceparent, delivered, message })
        }
        Err(error) => {
            tracing::error!(
                subject = %message.subject,
                bytes = message.payload.len(),
                %error,
                "terminating an event whose body is not a JobEvent"
            );
            // Term (NATS 2.7+): never redelivered, and unlike an ack it does not pretend
            // the event was processed.
            if let Err(error) = message.ack_with(AckKind::Term).await {
                tracing::warn!(%error, "could not terminate an undecodable event; it will be redelivered");
            }
            None
        }
    }
}
