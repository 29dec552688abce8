//! Heartbeats: a delivery that is held up (no row moves) still emits Progress events
//! at the heartbeat interval, numbered in order with the pass's own events, so a
//! live job is never taken for stalled; but once its pass has emitted nothing for the
//! stuck bound the beats stop, so a blocked job is. Real NATS JetStream, the real
//! processor.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bgjobs_consumer::{
    Connections, Delivery, Emitter, Finished, Job, Outcome, Processor, RetryPolicy, STILL_WORKING,
    Settings, Stop,
};
use bgjobs_domain::{EventKind, JobId, JobType};
use bgjobs_messaging::Names;
use bgjobs_messaging::events::{self, EventPublisher, ReceivedEvent};
use bgjobs_proto::convert::event_kind_to_proto;
use bgjobs_proto::v1::{Counters, JobEvent, JobMessage};
use bgjobs_test_support::names::messaging_prefix;
use tokio::sync::Notify;
use tokio_stream::{Stream, StreamExt};

const HEARTBEAT: Duration = Duration::from_secs(1);
const COUNTERS: Counters = Counters { rows_total: 0, rows_processed: 7, rows_rejected: 1 };

/// A job that reports progress once, then waits until the test releases it.
#[derive(Clone)]
struct HeldJob {
    release: Arc<Notify>,
}

impl Job for HeldJob {
    const TYPE: JobType = JobType::ProductUpload;
    const JOBS: &'static str = "held jobs";
    type Settings = Settings;

    fn new(_connections: Connections, _settings: &Settings) -> Self {
        Self { release: Arc::new(Notify::new()) }
    }

    async fn run(&self, _delivery: &Delivery<'_>, emitter: &mut Emitter) -> Result<Finished, Stop> {
        emitter
            .emit(EventKind::Progress, "7 rows read, 1 rejected", Some(COUNTERS), None)
            .await
            .map_err(|error| Stop::Retry(error.to_string()))?;
        self.release.notified().await;
        Ok(Finished {
            message: "done".to_owned(),
            counters: COUNTERS,
            result_key: "results.csv".to_owned(),
        })
    }
}

async fn next_event(
    events: &mut (impl Stream<Item = Result<ReceivedEvent, bgjobs_messaging::Error>> + Unpin),
) -> anyhow::Result<JobEvent> {
    let received = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .context("no event within 10 s")?
        .context("the event stream ended")??;
    let event = received.event.clone();
    received.ack().await?;
    Ok(event)
}

#[tokio::test]
async fn a_held_up_delivery_keeps_emitting_numbered_heartbeats_until_it_completes()
-> anyhow::Result<()> {
    let client = events::connect(events::DEFAULT_URL).await?;
    let names = Names::new(messaging_prefix());
    events::ensure_stream(&client, &names, 1).await?;
    let mut received = events::durable_events(&client, &names, "heartbeat-test").await?;
    let release = Arc::new(Notify::new());
    let job = HeldJob { release: Arc::clone(&release) };
    let publisher = EventPublisher::new(client.clone(), names.clone());
    let processor =
        Processor::new(job, publisher, "held/1".to_owned(), HEARTBEAT, RetryPolicy::default());
    let message = JobMessage {
        job_id: JobId::new().to_string(),
        account_id: "acme".to_owned(),
        attempt: 1,
        ..Default::default()
    };
    let handled = tokio::spawn(async move { processor.handle(&message, 1, 0, None).await });

    let progress = event_kind_to_proto(EventKind::Progress) as i32;
    let mut seen = vec![next_event(&mut received).await?, next_event(&mut received).await?];
    assert_eq!(seen[0].kind, event_kind_to_proto(EventKind::Started) as i32);
    assert_eq!((seen[1].kind, seen[1].counters), (progress, Some(COUNTERS)));
    // Held up: nothing but heartbeats, each repeating the last counters.
    for _ in 0..3 {
        let beat = next_event(&mut received).await?;
        assert_eq!(
            (beat.kind, beat.message.as_str(), beat.counters),
            (progress, STILL_WORKING, Some(COUNTERS)),
            "{beat:?}"
        );
        seen.push(beat);
    }
    release.notify_one();
    let completed = next_event(&mut received).await?;
    assert_eq!(completed.kind, event_kind_to_proto(EventKind::Completed) as i32);
    seen.push(completed);
    assert_eq!(handled.await?, Outcome::Completed { message: "done".to_owned() });

    // One delivery's events are numbered 1, 2, 3, ... in publish order, heartbeats too.
    let sequences: Vec<u64> = seen.iter().map(|event| event.sequence).collect();
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(sequences, expected);
    // Heartbeats come at the interval after the last event, not faster.
    let times: Vec<i64> = seen[1..5]
        .iter()
        .map(|event| {
            event
                .occurred_at
                .as_ref()
                .map_or(0, |at| at.seconds * 1_000 + i64::from(at.nanos) / 1_000_000)
        })
        .collect();
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 900, "heartbeats closer than the interval: {times:?}");
    }
    events::delete_stream(&client, &names).await?;
    Ok(())
}

/// The next event if one comes within `within`.
async fn event_within(
    events: &mut (impl Stream<Item = Result<ReceivedEvent, bgjobs_messaging::Error>> + Unpin),
    within: Duration,
) -> anyhow::Result<Option<JobEvent>> {
    match tokio::time::timeout(within, events.next()).await {
        Err(_) => Ok(None),
        Ok(received) => {
            let received = received.context("the event stream ended")??;
            let event = received.event.clone();
            received.ack().await?;
            Ok(Some(event))
        }
    }
}

#[tokio::test]
async fn a_delivery_that_makes_no_progress_stops_heartbeating_so_that_it_is_recovered()
-> anyhow::Result<()> {
    const STUCK_AFTER: Duration = Duration::from_secs(3);
    let client = events::connect(events::DEFAULT_URL).await?;
    let names = Names::new(messaging_prefix());
    events::ensure_stream(&client, &names, 1).await?;
    let mut received = events::durable_events(&client, &names, "stuck-test").await?;
    let release = Arc::new(Notify::new());
    let job = HeldJob { release: Arc::clone(&release) };
    let publisher = EventPublisher::new(client.clone(), names.clone());
    let processor =
        Processor::new(job, publisher, "held/1".to_owned(), HEARTBEAT, RetryPolicy::default())
            .stuck_after(STUCK_AFTER);
    let message = JobMessage {
        job_id: JobId::new().to_string(),
        account_id: "acme".to_owned(),
        attempt: 1,
        ..Default::default()
    };
    let handled = tokio::spawn(async move { processor.handle(&message, 1, 0, None).await });

    let progress = event_kind_to_proto(EventKind::Progress) as i32;
    let mut seen = vec![next_event(&mut received).await?, next_event(&mut received).await?];
    assert_eq!((seen[1].kind, seen[1].counters), (progress, Some(COUNTERS)));
    let moved_at = tokio::time::Instant::now();
    // The pass is blocked: heartbeats for as long as it last moved within the bound,
    // then none, however long it stays blocked.
    let silence = 3 * HEARTBEAT;
    let mut beats = 0;
    while let Some(beat) = event_within(&mut received, silence).await? {
        assert_eq!((beat.kind, beat.message.as_str()), (progress, STILL_WORKING), "{beat:?}");
        assert!(moved_at.elapsed() < STUCK_AFTER + HEARTBEAT, "a beat after {beat:?}");
        beats += 1;
        seen.push(beat);
    }
    assert!((1..=3).contains(&beats), "{beats} heartbeats in the {STUCK_AFTER:?} before stuck");
    let last_beat = moved_at.elapsed() - silence;
    println!("{beats} heartbeats, the last {last_beat:?} after the pass last moved, then none");

    // Unblocked, the delivery ends as usual, its events numbered on without a gap.
    release.notify_one();
    let completed = next_event(&mut received).await?;
    assert_eq!(completed.kind, event_kind_to_proto(EventKind::Completed) as i32);
    seen.push(completed);
    assert_eq!(handled.await?, Outcome::Completed { message: "done".to_owned() });
    let sequences: Vec<u64> = seen.iter().map(|event| event.sequence).collect();
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(sequences, expected);
    events::delete_stream(&client, &names).await?;
    Ok(())
}
