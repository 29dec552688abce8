//! Job events against the local NATS JetStream: the stream, de-duplication, durable consumers.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use bgjobs_domain::JobId;
use bgjobs_messaging::Names;
use bgjobs_messaging::events::{self, ConsumerSettings, EventPublisher};
use bgjobs_test_support::brokers;
use bgjobs_test_support::names::messaging_prefix;
use common::{TRACEPARENT, job_event, next};

/// A client and a fresh events stream under a prefix of this test's own.
async fn stream() -> anyhow::Result<(async_nats::Client, Names)> {
    let client = events::connect(brokers::NATS_ADMIN_URL).await?;
    let names = Names::new(messaging_prefix());
    events::ensure_stream(&client, &names, 1).await?;
    Ok((client, names))
}

async fn stored_messages(client: &async_nats::Client, names: &Names) -> anyhow::Result<u64> {
    let mut stream = jetstream::new(client.clone()).get_stream(names.events_stream()).await?;
    Ok(stream.info().await?.state.messages)
}

#[tokio::test]
async fn ensuring_the_stream_twice_is_harmless() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    events::ensure_stream(&client, &names, 1).await?;
    let mut stream = jetstream::new(client.clone()).get_stream(names.events_stream()).await?;
    let config = stream.info().await?.config.clone();
    assert_eq!(config.subjects, [names.events_wildcard()]);
    assert_eq!(config.duplicate_window, events::DUPLICATE_WINDOW);
    assert_eq!(config.max_age, events::MAX_AGE);
    assert_eq!(config.storage, jetstream::stream::StorageType::File);
    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn ensuring_the_stream_brings_a_changed_configuration_back() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let context = jetstream::new(client.clone());
    let mut changed = context.get_stream(names.events_stream()).await?.info().await?.config.clone();
    changed.max_age = events::MAX_AGE / 2;
    context.update_stream(changed).await?;

    events::ensure_stream(&client, &names, 1).await?;
    let mut stream = context.get_stream(names.events_stream()).await?;
    assert_eq!(stream.info().await?.config.max_age, events::MAX_AGE);
    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_durable_consumer_receives_events_in_publish_order() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let publisher = EventPublisher::new(client.clone(), names.clone());
    let job = JobId::new();
    let published: Vec<_> = (1..=3).map(|sequence| job_event(job, sequence)).collect();
    for event in &published {
        publisher.publish(event, Some(TRACEPARENT)).await?;
    }

    let mut received = events::durable_events(&client, &names, "registry").await?;
    for expected in &published {
        let event = next(&mut received).await?;
        assert_eq!(&event.event, expected);
        assert_eq!(event.traceparent.as_deref(), Some(TRACEPARENT));
        assert_eq!(event.delivered, 1);
        event.ack().await?;
    }

    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn an_event_published_twice_within_the_window_is_stored_once() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let publisher = EventPublisher::new(client.clone(), names.clone());
    let event = job_event(JobId::new(), 1);
    publisher.publish(&event, None).await?;
    publisher.publish(&event, None).await?;
    assert_eq!(stored_messages(&client, &names).await?, 1);

    let mut received = events::durable_events(&client, &names, "registry").await?;
    let first = next(&mut received).await?;
    assert_eq!(first.event, event);
    assert_eq!(first.traceparent, None);
    first.ack().await?;

    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_resumed_durable_consumer_gets_unacked_events_again_and_acked_ones_never()
-> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let publisher = EventPublisher::new(client.clone(), names.clone());
    // A short ack wait so the unacked event comes back quickly.
    let settings = ConsumerSettings { ack_wait: Duration::from_secs(1) };
    let job = JobId::new();
    let [acked, unacked, later, marker] = [1, 2, 3, 4].map(|sequence| job_event(job, sequence));
    publisher.publish(&acked, None).await?;
    publisher.publish(&unacked, None).await?;

    let mut received = events::durable_events_with(&client, &names, "registry", &settings).await?;
    let first = next(&mut received).await?;
    assert_eq!(first.event, acked);
    first.ack().await?;
    let second = next(&mut received).await?;
    assert_eq!(second.event, unacked);
    drop(second);
    drop(received);

    publisher.publish(&later, None).await?;
    let mut resumed = events::durable_events_with(&client, &names, "registry", &settings).await?;
    // The redelivery waits for the ack wait, so it may come after the later event.
    let mut seen = BTreeSet::new();
    for _ in 0..2 {
        let event = next(&mut resumed).await?;
        if event.event == unacked {
            assert!(event.delivered >= 2, "the unacked event came back as a first delivery");
        }
        seen.insert(event.event.sequence);
        event.ack().await?;
    }
    assert_eq!(seen, BTreeSet::from([unacked.sequence, later.sequence]));
    // Had the acked event come back, it would arrive before this one.
    publisher.publish(&marker, None).await?;
    assert_eq!(next(&mut resumed).await?.event, marker);

    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn an_undecodable_event_is_terminated_and_not_yielded() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    // JetStream announces every terminated message on this advisory subject.
    let advisory =
        format!("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{}.registry", names.events_stream());
    let mut terminations = client.subscribe(advisory).await?;
    let subject = format!("{}bgjobs.events.acme.not-an-event", names.prefix());
    jetstream::new(client.clone()).publish(subject, "not protobuf at all".into()).await?.await?;
    let valid = job_event(JobId::new(), 1);
    EventPublisher::new(client.clone(), names.clone()).publish(&valid, None).await?;

    let mut received = events::durable_events(&client, &names, "registry").await?;
    let first = next(&mut received).await?;
    assert_eq!(first.event, valid, "the undecodable message was yielded");
    first.ack().await?;
    let terminated =
        tokio::time::timeout(common::DEADLINE, futures::StreamExt::next(&mut terminations))
            .await?
            .context("the advisory subscription ended")?;
    let terminated: serde_json::Value = serde_json::from_slice(&terminated.payload)?;
    assert_eq!(terminated["stream_seq"], 1, "{terminated}");

    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn resuming_a_durable_consumer_applies_new_settings() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    drop(events::durable_events(&client, &names, "registry").await?);
    let settings = ConsumerSettings { ack_wait: Duration::from_secs(3) };
    drop(events::durable_events_with(&client, &names, "registry", &settings).await?);
    let stream = jetstream::new(client.clone()).get_stream(names.events_stream()).await?;
    let info = stream.consumer_info("registry").await?;
    assert_eq!(info.config.ack_wait, Duration::from_secs(3));
    assert_eq!(info.config.max_deliver, -1);
    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn an_event_without_an_event_id_is_refused() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let event =
        bgjobs_proto::v1::JobEvent { event_id: String::new(), ..job_event(JobId::new(), 1) };
    let error =
        EventPublisher::new(client.clone(), names.clone()).publish(&event, None).await.err();
    assert!(matches!(error, Some(bgjobs_messaging::Error::InvalidMessage(_))), "{error:?}");
    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn events_handed_back_at_shutdown_reach_another_replica_at_once() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let publisher = EventPublisher::new(client.clone(), names.clone());
    let job = JobId::new();
    let published: Vec<_> = (1..=20).map(|sequence| job_event(job, sequence)).collect();
    for event in &published {
        publisher.publish(event, None).await?;
    }
    // The default ack wait (30 s): without the hand-back, the buffered events would
    // reach the other replica only after it.
    let mut stopping = events::durable_events(&client, &names, "registry").await?;
    let first = next(&mut stopping).await?;
    first.ack().await?;
    let handed_back =
        events::hand_back(stopping, Duration::from_millis(500), Duration::from_secs(5)).await;
    assert_eq!(handed_back, 19, "every buffered event is handed back");

    let mut other = events::durable_events(&client, &names, "registry").await?;
    let mut seen = BTreeSet::new();
    let took = std::time::Instant::now();
    while seen.len() < 19 {
        let event = tokio::time::timeout(Duration::from_secs(10), next(&mut other))
            .await
            .context("a handed-back event did not reach the other replica within 10 s")??;
        seen.insert(event.event.sequence);
        event.ack().await?;
    }
    assert_eq!(seen, (2..=20).collect::<BTreeSet<u64>>());
    eprintln!("hand back: 19 events redelivered in {:?}", took.elapsed());

    events::delete_stream(&client, &names).await?;
    Ok(())
}

#[tokio::test]
async fn the_backlog_is_as_old_as_the_oldest_undelivered_event() -> anyhow::Result<()> {
    let (client, names) = stream().await?;
    let publisher = EventPublisher::new(client.clone(), names.clone());
    // The consumer exists but nobody reads it yet: a registry that is down.
    let config = jetstream::consumer::pull::Config {
        durable_name: Some("registry".to_owned()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    };
    jetstream::new(client.clone())
        .get_stream(names.events_stream())
        .await?
        .create_consumer(config)
        .await?;
    assert_eq!(events::backlog_age(&client, &names, "registry").await?, Duration::ZERO);

    let job = JobId::new();
    for sequence in 1..=3 {
        publisher.publish(&job_event(job, sequence), None).await?;
    }
    let published = std::time::Instant::now();
    // Let the backlog age a measurable while.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let age = events::backlog_age(&client, &names, "registry").await?;
    assert!(age >= Duration::from_secs(1), "the backlog is {age:?} old");
    assert!(age <= published.elapsed() + Duration::from_secs(2), "the backlog is {age:?} old");

    // Once a reader takes them, nothing waits, acknowledged or not yet.
    let mut received = events::durable_events(&client, &names, "registry").await?;
    let first = next(&mut received).await?;
    bgjobs_test_support::wait::until(
        "the reader to take every event",
        Duration::from_secs(10),
        async || {
            let age = events::backlog_age(&client, &names, "registry").await?;
            Ok((age == Duration::ZERO).then_some(()))
        },
    )
    .await?;
    first.ack().await?;

    events::delete_stream(&client, &names).await?;
    Ok(())
}
