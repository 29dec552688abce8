//! SIGTERM, as Kubernetes sends on every rollout, to the ingest and jobs-registry
//! binaries: each stops taking new work, finishes what is in flight within its grace
//! period, and exits 0; nothing accepted is lost. (The consumers' shutdown is in
//! `shutdown.rs` and the fault suite.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_e2e::process::ServiceProcess;
use bgjobs_identity::Service;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::WatchJobsRequest;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_test_support::{pki, wait};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

const INGEST: &str = env!("CARGO_BIN_EXE_e2e-ingest");
const REGISTRY: &str = env!("CARGO_BIN_EXE_e2e-jobs-registry");
const DEADLINE: Duration = Duration::from_secs(60);
/// The services' shutdown grace in these tests; exits are expected well within it.
const GRACE_SECS: &str = "20";

/// A loopback address no one listens on now, for a child process to bind.
fn free_address() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// Where [`ServiceProcess`] writes the output of `worker` started as `log_name`.
fn log_path(log_name: &str, worker: &str) -> PathBuf {
    std::env::temp_dir()
        .join("bgjobs-e2e")
        .join(format!("{log_name}-{}.log", worker.replace('/', "-")))
}

async fn log_contains(path: &Path, text: &str) -> anyhow::Result<Option<()>> {
    let log = tokio::fs::read_to_string(path).await.unwrap_or_default();
    Ok(log.contains(text).then_some(()))
}

#[tokio::test]
async fn ingest_finishes_the_upload_in_flight_on_sigterm_refuses_new_ones_and_exits_0()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let (http_addr, grpc_addr) = (free_address()?, free_address()?);
    let worker = format!("ingest/{}", system.account);
    let mut ingest = ServiceProcess::start(
        Path::new(INGEST),
        &system,
        &worker,
        "service-shutdown",
        &[
            ("BGJOBS_INGEST_HTTP_ADDR", &http_addr),
            ("BGJOBS_INGEST_GRPC_ADDR", &grpc_addr),
            ("BGJOBS_SHUTDOWN_GRACE_SECS", GRACE_SECS),
        ],
    )?;
    let base = format!("https://{http_addr}");
    wait::until("ingest to be ready", DEADLINE, || async {
        let ready = system.http.get(format!("{base}/readyz")).send().await;
        Ok(ready.ok().filter(|response| response.status().is_success()).map(|_| ()))
    })
    .await?;

    // An upload whose body comes in two parts, with SIGTERM between them.
    let (body_part, parts) = tokio::sync::mpsc::channel::<Result<&'static str, std::io::Error>>(1);
    let url = format!(
        "{base}/v1/accounts/{}/jobs/product-upload?client_id={}&file_name=products.csv",
        system.account, system.client_id
    );
    let request = system
        .http
        .post(url)
        .bearer_auth(system.user_token(None))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(ReceiverStream::new(parts)))
        .send();
    let upload = tokio::spawn(request);
    body_part.send(Ok("sku,name,price\nMUG-1,Red mug,4.99\n")).await?;
    let log = log_path("service-shutdown", &worker);
    wait::until("ingest to be receiving the upload", DEADLINE, || {
        log_contains(&log, "receiving the upload")
    })
    .await?;

    ingest.terminate()?;
    // New work is refused once the listener is closed; the upload in flight goes on.
    wait::until("ingest to stop taking connections", DEADLINE, || async {
        let refused = system.http.get(format!("{base}/readyz")).send().await.is_err();
        Ok(refused.then_some(()))
    })
    .await?;
    body_part.send(Ok("MUG-2,Blue mug,5.49\n")).await?;
    drop(body_part);
    let response = upload.await??;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::ACCEPTED,
        "the upload in flight was accepted"
    );
    let accepted: serde_json::Value = response.json().await?;
    let job_id = accepted["job_id"].as_str().expect("a job id").to_owned();

    let (status, took) = ingest.exited(DEADLINE).await?;
    assert!(status.success(), "ingest exited with {status}");
    eprintln!("ingest exited 0 {took:?} after the upload in flight was answered");

    // Nothing accepted is lost: the job runs to the end with both rows.
    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "2 of 2 rows imported, 0 rejected");
    system.stop().await
}

#[tokio::test]
async fn the_registry_ends_its_watches_on_sigterm_exits_0_and_its_events_are_applied_by_the_next()
-> anyhow::Result<()> {
    // The system's own registry and this binary share the durable event consumer, as
    // two replicas of a rollout do.
    let system = TestSystem::start().await?;
    let grpc_addr = free_address()?;
    let worker = format!("jobs-registry/{}", system.account);
    let mut registry = ServiceProcess::start(
        Path::new(REGISTRY),
        &system,
        &worker,
        "service-shutdown",
        &[("BGJOBS_REGISTRY_GRPC_ADDR", &grpc_addr), ("BGJOBS_SHUTDOWN_GRACE_SECS", GRACE_SECS)],
    )?;
    let url = format!("https://{grpc_addr}");
    let endpoint = pki::credentials(Service::Gateway).endpoint(&url, Service::JobsRegistry)?;
    let connect = || endpoint.connect();
    let mut client = wait::until("the registry binary to serve", DEADLINE, || async {
        Ok(connect().await.ok().map(JobsRegistryClient::new))
    })
    .await?;
    let watch = WatchJobsRequest { account_id: system.account.to_string() };
    let mut changes = client.watch_jobs(watch).await?.into_inner();

    registry.terminate()?;
    // The open watch ends cleanly instead of holding the shutdown up.
    let ended = tokio::time::timeout(DEADLINE, async {
        loop {
            match changes.next().await {
                Some(Ok(_change)) => continue,
                other => return other,
            }
        }
    })
    .await?;
    assert!(ended.is_none(), "the watch ended with an error: {ended:?}");
    let (status, took) = registry.exited(DEADLINE).await?;
    assert!(status.success(), "the registry exited with {status}");
    eprintln!("jobs-registry exited 0 {took:?} after SIGTERM");

    // Events published now are applied by the remaining replica: nothing lost.
    let job_id = system.submit_products("sku,name,price\nMUG-1,Red mug,4.99\n").await?;
    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    let refused = connect().await.is_err();
    assert!(refused, "the stopped registry still accepts connections");
    system.stop().await
}
