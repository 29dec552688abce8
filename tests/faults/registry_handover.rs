//! Two registry replicas share the durable event consumer, and one of them holds a
//! job's first events unapplied while the other applies the rest. The test freezes
//! the first replica (SIGSTOP, as a paused VM or a stuck runtime) once its pull request
//! is open, so that the job's Started and first Progress events are delivered to it
//! and wait there; the second replica, started then, receives the rest of the job's
//! events, Completed included, while the job is still New. Then the first replica is
//! rolled (SIGTERM, SIGCONT, a third one started in its place). Whatever order the
//! job's events are applied in, the registry must reach Completed on attempt 1: the
//! events that found the job New are held until its Started, not ignored.
//!
//! The frozen replica's NATS connection does not survive the freeze, so its hand-back
//! of buffered events is lost and they come back after the 30 s ack wait; the
//! hand-back itself is proven with a healthy connection by the messaging crate's
//! `events_handed_back_at_shutdown_reach_another_replica_at_once`.

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, ensure_completed_on,
};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_test_support::wait;

use crate::consumer;

const JOBS_REGISTRY: &str = env!("CARGO_BIN_EXE_e2e-jobs-registry");
/// Enough rows that the job's events go on after the frozen replica's pull request
/// (5 s) has expired.
const ROWS: u64 = 100_000;
/// How often the first replica is frozen anew when its open pull request expired
/// before the job's first event reached it (it lives 5 s).
const TRIES: usize = 5;
/// How long the frozen replica's open pull request may take to receive the job's
/// first event once the consumer is started.
const RECEIVE: Duration = Duration::from_secs(4);
const DEADLINE: Duration = Duration::from_secs(120);
/// How long the job may take to complete once the first replica is stopped: the 30 s
/// ack wait after which JetStream redelivers the events it held, and some more; far
/// below the stall threshold (300 s), after which a job left In Progress is rerun.
const AFTER_STOP: Duration = Duration::from_secs(50);

#[tokio::test]
async fn a_registry_replica_frozen_holding_a_jobs_first_events_loses_no_state() -> anyhow::Result<()>
{
    let environment = Environment { registry_as_process: true, ..Environment::default() };
    let options = Options { product_upload_in_process: false };
    let system = TestSystem::start_in(options, environment).await?;
    let checked = check_handover(&system).await;
    system.stop().await?;
    checked
}

async fn check_handover(system: &TestSystem) -> anyhow::Result<()> {
    let started = Instant::now();
    let env = |name: &str| system.service_env().find(|(key, _)| *key == name).map(|(_, v)| v);
    let durable = env("BGJOBS_REGISTRY_CONSUMER").unwrap_or_default().to_owned();
    let nats =
        bgjobs_messaging::events::connect(env("BGJOBS_NATS_URL").unwrap_or_default()).await?;
    let stream = jetstream::new(nats).get_stream(system.names().events_stream()).await?;
    let registry = Path::new(JOBS_REGISTRY);
    let mut first = ServiceProcess::start(registry, system, "jobs-registry/first", "faults", &[])?;
    answering(system, "the first replica").await?;
    let mut held = None;
    for attempt in 1..=TRIES {
        // Registered and queued while the replica runs; no consumer takes it yet.
        let submitted = system.submit_products(product_file(ROWS, &[])).await?;
        wait::until("the first replica's pull request", DEADLINE, || async {
            let info = stream.consumer_info(&durable).await?;
            Ok((info.num_waiting >= 1).then_some(()))
        })
        .await?;
        first.signal("STOP")?;
        let worker = format!("product-upload/handover-{attempt}");
        let mut upload = consumer(system, &worker, &[])?;
        let received = wait::until("the frozen replica to receive events", RECEIVE, || {
            let (stream, durable) = (&stream, &durable);
            async move {
                let info = stream.consumer_info(durable).await?;
                Ok((info.num_ack_pending >= 1).then_some(()))
            }
        })
        .await;
        if received.is_ok() {
            held = Some((submitted, upload));
            break;
        }
        // Its request expired before the job's first event: let it apply the job,
        // and try again with a new one.
        first.signal("CONT")?;
        assert_all_final(system, std::slice::from_ref(&submitted), DEADLINE).await?;
        upload.terminate()?;
        upload.exited(DEADLINE).await?;
    }
    let (job_id, _upload) =
        held.ok_or_else(|| anyhow::anyhow!("no try froze the replica holding events"))?;
    let job: JobId = job_id.parse()?;

    let second = [("BGJOBS_REGISTRY_GRPC_ADDR", "127.0.0.1:0")];
    let _second =
        ServiceProcess::start(registry, system, "jobs-registry/second", "faults", &second)?;
    // The consumer finishes; the second replica takes every event the first one did not.
    wait::until("the upload to finish and its events to be taken", DEADLINE, || async {
        let done = system.store.catalog().checkpoint(job).await?.is_some_and(|c| c.results_written);
        let info = stream.consumer_info(&durable).await?;
        Ok((done && info.num_pending == 0).then_some(()))
    })
    .await?;
    // Asked of the store: the registry's address is the frozen replica's.
    let before = system.store.jobs().get_job(&system.account, job).await?;
    let before = before.map(|job| job.status);
    anyhow::ensure!(
        before == Some(JobStatus::New),
        "the job is {before:?} while its Started waits in the frozen replica"
    );

    let stopped_at = Instant::now();
    first.terminate()?;
    first.signal("CONT")?;
    let (status, _) = first.exited(Duration::from_secs(30)).await?;
    anyhow::ensure!(status.success(), "the first replica exited with {status}");
    // The rollout's new replica takes the stopped one's address, which the system's
    // registry client (and ingest) use.
    let _third = ServiceProcess::start(registry, system, "jobs-registry/third", "faults", &[])?;
    answering(system, "the third replica").await?;
    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), AFTER_STOP).await?;
    let finished = &jobs[0];
    ensure_completed_on(finished, 1)?;
    assert_legal_transitions(&system.log(&job_id).await?);
    assert_applied_once(system, finished, ROWS, ROWS).await?;
    eprintln!(
        "registry handover: completed {:?} after the first replica was stopped, {:?} after start",
        stopped_at.elapsed(),
        started.elapsed()
    );
    Ok(())
}

/// Waits until the registry at the system's address answers.
async fn answering(system: &TestSystem, replica: &str) -> anyhow::Result<()> {
    wait::until(&format!("{replica} to answer"), DEADLINE, || async {
        Ok(system.jobs().await.ok().map(|_| ()))
    })
    .await
}
