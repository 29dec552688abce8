//! Scenario 3, the job events: every event of a finished job published again with its
//! own `Nats-Msg-Id`, inside JetStream's de-duplication window (the server drops each
//! copy) and outside it (the stream's window is shortened to one second so the test
//! need not wait two minutes; the server stores every copy and the registry's own
//! de-duplication by event id must catch them). The log and the job stay as they were.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream::Stream};
use bgjobs_domain::{AccountId, JobId, JobStatus};
use bgjobs_e2e::TestSystem;
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::product_file;
use bgjobs_messaging::{Names, events};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

/// Enough rows for the job to run past a Progress interval (100 ms in tests), so that
/// its events include Progress ones.
const ROWS: u64 = 20_000;
const BAD_ROWS: [u64; 1] = [10_000];
const DEADLINE: Duration = Duration::from_secs(60);

/// A stored event, to publish again as it was.
struct StoredEvent {
    subject: String,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
}

#[tokio::test]
async fn every_event_published_again_inside_and_outside_the_dedup_window_changes_nothing()
-> anyhow::Result<()> {
    let file = product_file(ROWS, &BAD_ROWS);
    let started = Instant::now();
    let (checksum, reference) = tokio::join!(republished_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("duplicate events: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

async fn republished_run(file: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    let system = TestSystem::start().await?;
    let env: HashMap<_, _> = system.service_env().collect();
    let names = Names::new(env["BGJOBS_PREFIX"]);
    let registry_consumer = env["BGJOBS_REGISTRY_CONSUMER"].to_owned();
    let nats = events::connect(env["BGJOBS_NATS_URL"]).await?;
    let jetstream = jetstream::new(nats);
    let stream = jetstream.get_stream(names.events_stream()).await?;

    let job_id = system.submit_products(file.to_owned()).await?;
    let jobs = assert_all_final(&system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let job: JobId = job_id.parse()?;
    let subject = names.events_subject(&AccountId::parse(&jobs[0].account_id)?, job);
    let last = caught_up(&stream, &registry_consumer).await?;
    let stored = stored_events(&stream, &subject, last).await?;
    let log_before = system.log(&job_id).await?;
    let job_before = system.job(&job_id).await?;
    anyhow::ensure!(stored.len() >= 3, "only {} events stored for the job", stored.len());

    // Inside the window: the server drops every copy.
    for event in &stored {
        let ack = jetstream
            .publish_with_headers(
                event.subject.clone(),
                event.headers.clone(),
                event.payload.clone(),
            )
            .await?
            .await?;
        assert!(ack.duplicate, "a copy inside the window was stored as sequence {}", ack.sequence);
    }
    assert_eq!(caught_up(&stream, &registry_consumer).await?, last, "a copy was stored");

    // Outside the window: each copy is stored once its original is older than the
    // window (a copy the server still drops stores nothing, so trying again is safe).
    let mut config = stream.get_info().await?.config;
    config.duplicate_window = Duration::from_secs(1);
    jetstream.update_stream(config).await?;
    for event in &stored {
        wait::until("a copy to be stored outside the window", Duration::from_secs(10), || async {
            let ack = jetstream
                .publish_with_headers(
                    event.subject.clone(),
                    event.headers.clone(),
                    event.payload.clone(),
                )
                .await?
                .await?;
            Ok((!ack.duplicate).then_some(()))
        })
        .await?;
    }
    let republished_last = caught_up(&stream, &registry_consumer).await?;
    assert_eq!(republished_last, last + stored.len() as u64, "every copy is stored");
    eprintln!(
        "duplicate events: {} events published again twice; the registry read all {:?} after start",
        stored.len(),
        started.elapsed()
    );

    let log = system.log(&job_id).await?;
    assert_eq!(log, log_before, "a copy changed the message log");
    let finished = system.job(&job_id).await?;
    assert_eq!(finished, job_before, "a copy changed the job");
    assert_eq!(
        job_status_from_proto(finished.status),
        Some(JobStatus::Completed),
        "{}",
        finished.message
    );
    assert_legal_transitions(&log);
    assert_applied_once(&system, &finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let checksum = catalogue_checksum(&system, &system.account, &system.client_id).await?;
    system.stop().await?;
    Ok(checksum)
}

/// Waits until the registry's durable consumer has read and acknowledged everything in
/// the stream; returns the stream's last sequence.
async fn caught_up(stream: &Stream, consumer: &str) -> anyhow::Result<u64> {
    let what = format!("the registry's consumer {consumer} to catch up");
    wait::until(&what, DEADLINE, || async {
        let last = stream.get_info().await?.state.last_sequence;
        let info = stream.consumer_info(consumer).await?;
        let done = info.num_pending == 0
            && info.num_ack_pending == 0
            && info.delivered.stream_sequence >= last;
        Ok(done.then_some(last))
    })
    .await
}

/// The events stored on `subject` up to sequence `last`, in order.
async fn stored_events(
    stream: &Stream,
    subject: &str,
    last: u64,
) -> anyhow::Result<Vec<StoredEvent>> {
    let mut stored = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await?;
        if message.subject.as_str() == subject {
            stored.push(StoredEvent {
                subject: message.subject.to_string(),
                headers: message.headers,
                payload: message.payload,
            });
        }
    }
    Ok(stored)
}
