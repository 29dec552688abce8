//! The registry registers an upload's job but its answer never reaches ingest (the
//! network drops it): ingest tries CreateJob again, keeps the stored input since the
//! job may exist, answers 503, and once answers get through the sweeper publishes the
//! job, which completes from that input.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bgjobs_domain::object_keys;
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::proxy::LossyProxy;
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::v1::JobStatus;
use bgjobs_test_support::wait;

const INGEST: &str = env!("CARGO_BIN_EXE_e2e-ingest");
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test]
async fn an_upload_whose_registration_answer_is_lost_keeps_its_input_and_completes()
-> anyhow::Result<()> {
    let environment = Environment {
        ingest_as_process: true,
        settings: vec![("BGJOBS_REPUBLISH_AFTER_SECS", "1".to_owned())],
        ..Environment::default()
    };
    let system = TestSystem::start_in(Options::default(), environment).await?;
    let registry = system
        .service_env()
        .find(|(name, _)| *name == "BGJOBS_REGISTRY_URL")
        .and_then(|(_, url)| url.strip_prefix("https://")?.parse::<SocketAddr>().ok())
        .context("the system's registry address")?;
    let proxy = LossyProxy::start_tls(registry).await?;
    let proxy_url = proxy.url();
    let _ingest = ServiceProcess::start(
        Path::new(INGEST),
        &system,
        "ingest/lost-answer",
        "faults",
        &[("BGJOBS_REGISTRY_URL", proxy_url.as_str())],
    )?;
    let health = format!("{}/healthz", system.ingest_url);
    wait::until("ingest to listen", DEADLINE, || async {
        Ok(system
            .http
            .get(&health)
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ()))
    })
    .await?;

    let response = system.upload_products(product_file(20, &[])).await?;
    assert_eq!(response.status(), 503, "{}", response.text().await?);

    // The registry did register it, and its input is still stored.
    let jobs = system.jobs().await?;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    let input = object_keys::input(&system.account, job.job_id.parse()?);
    assert!(
        system.objects.head(&input).await?.is_some(),
        "the input of a registered job was deleted"
    );

    proxy.deliver_answers();
    let finished = system.finished_job(&job.job_id, DEADLINE).await?;
    assert_eq!(finished.status(), JobStatus::Completed, "{}", finished.message);
    assert_eq!(finished.message, "20 of 20 rows imported, 0 rejected");
    system.stop().await
}
