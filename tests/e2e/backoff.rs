//! Transient faults: a product-upload consumer whose S3 is unreachable puts the job
//! off with growing delays (through the delay queues) and completes once S3 is back;
//! one whose S3 never comes back gives up, and the dead-lettered job ends in Error
//! with the cause.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(60);
const FILE: &str = "sku,name\nMUG-1,Red mug\nMUG-2,Blue mug\nMUG-3,Green mug\n";

/// Starts an in-process product-upload consumer of `system` whose S3 endpoint is
/// `s3_address`, retrying `attempts` times from 300 ms up to 2 s.
async fn start_consumer(
    system: &TestSystem,
    s3_address: SocketAddr,
    attempts: u32,
) -> anyhow::Result<CancellationToken> {
    let mut env: HashMap<&str, String> =
        system.service_env().map(|(name, value)| (name, value.to_owned())).collect();
    env.insert("BGJOBS_S3_ENDPOINT", format!("http://{s3_address}"));
    env.insert("BGJOBS_RETRY_ATTEMPTS", attempts.to_string());
    env.insert("BGJOBS_RETRY_BASE_MS", "300".to_owned());
    env.insert("BGJOBS_RETRY_MAX_MS", "2000".to_owned());
    let settings =
        product_upload::settings::load(&bgjobs_config::Environment::from_lookup(|name| {
            env.get(name).cloned()
        }))?;
    let worker = product_upload::Worker::build(settings).await?;
    let stop = CancellationToken::new();
    tokio::spawn(worker.run_until_stopped(stop.clone().cancelled_owned()));
    Ok(stop)
}

/// A loopback address where nothing listens (yet).
fn closed_address() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// From now on, forwards connections to `address` to the real S3 of the local stack.
async fn open_s3_at(address: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect("127.0.0.1:8333").await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    Ok(())
}

/// The messages of the job's log lines that report a transient fault.
async fn fault_lines(system: &TestSystem, job_id: &str) -> anyhow::Result<Vec<String>> {
    let log = system.log(job_id).await?;
    Ok(log
        .into_iter()
        .map(|entry| entry.message)
        .filter(|message| message.starts_with("transient fault: "))
        .collect())
}

/// The delay in seconds that a "... retry n of N in 1.2 s" line announces.
fn announced_delay(line: &str) -> f64 {
    let secs = line.rsplit(" in ").next().and_then(|tail| tail.strip_suffix(" s"));
    secs.and_then(|secs| secs.parse().ok()).unwrap_or(f64::NAN)
}

#[tokio::test]
async fn an_upload_whose_storage_is_down_for_a_while_backs_off_then_completes() -> anyhow::Result<()>
{
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let s3_address = closed_address()?;
    let consumer = start_consumer(&system, s3_address, 5).await?;

    let job_id = system.submit_products(FILE).await?;
    let faults = wait::until("two retries to be announced", DEADLINE, || async {
        let lines = fault_lines(&system, &job_id).await?;
        Ok((lines.len() >= 2).then_some(lines))
    })
    .await?;
    open_s3_at(s3_address).await?;

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!((job.attempt, job.message.as_str()), (1, "3 of 3 rows imported, 0 rejected"));
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 3);
    assert!(faults[0].contains("; retry 1 of 5 in "), "{}", faults[0]);
    assert!(faults[1].contains("; retry 2 of 5 in "), "{}", faults[1]);
    let (first, second) = (announced_delay(&faults[0]), announced_delay(&faults[1]));
    // 300 ms then 600 ms, each ±20%: the second is always the longer.
    assert!((0.2..=0.4).contains(&first) && (0.4..=0.8).contains(&second), "{faults:?}");
    consumer.cancel();
    system.stop().await
}

#[tokio::test]
async fn an_upload_whose_storage_never_comes_back_ends_in_error_with_the_cause()
-> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let consumer = start_consumer(&system, closed_address()?, 2).await?;

    let job_id = system.submit_products(FILE).await?;
    let job = system.finished_job(&job_id, DEADLINE).await?;

    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error), "{}", job.message);
    assert!(
        job.message.starts_with(
            "dead-lettered: the consumer gave up on the message; last report: \
             transient fault: reading the uploaded file failed: "
        ),
        "{}",
        job.message
    );
    assert!(job.message.ends_with("; giving up after 2 retries"), "{}", job.message);
    let faults = fault_lines(&system, &job_id).await?;
    assert_eq!(faults.len(), 3, "two retries, then giving up: {faults:?}");
    assert_eq!(system.dead_lettered(bgjobs_domain::JobType::ProductUpload).await?, 1);
    consumer.cancel();
    system.stop().await
}
