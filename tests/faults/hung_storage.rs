//! The object store stops answering in the middle of an upload (requests arrive,
//! no answer comes back, as from a hung server or a network that drops the answers).
//! The consumer, a real process reaching S3 through a proxy, bounds every S3 request
//! (`BGJOBS_S3_REQUEST_TIMEOUT_SECS`, shortened here): its delivery stops with a
//! transient fault instead of waiting for ever, is retried through the delay queues
//! while the store is silent, and resumes from its checkpoint once the store answers
//! again, completing the job on its first attempt.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bgjobs_domain::JobId;
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, ensure_completed_on,
};
use bgjobs_e2e::process::product_file;
use bgjobs_e2e::proxy::LossyProxy;
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_test_support::wait;

use crate::consumer;

const ROWS: u64 = 20_000;
/// The shared stack's SeaweedFS S3 gateway.
const S3: &str = "127.0.0.1:8333";
/// How long the store stays silent: several request timeouts.
const SILENCE: Duration = Duration::from_secs(8);
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_silent_object_store_mid_upload_is_a_transient_fault_not_a_hang() -> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let checked = check_hung_storage(&system).await;
    system.stop().await?;
    checked
}

async fn check_hung_storage(system: &TestSystem) -> anyhow::Result<()> {
    let proxy = LossyProxy::start(S3.parse::<SocketAddr>()?).await?;
    proxy.deliver_answers();
    let endpoint = proxy.url();
    let settings = [
        ("BGJOBS_S3_ENDPOINT", endpoint.as_str()),
        ("BGJOBS_S3_CONNECT_TIMEOUT_SECS", "1"),
        ("BGJOBS_S3_REQUEST_TIMEOUT_SECS", "1"),
        ("BGJOBS_RETRY_BASE_MS", "500"),
        ("BGJOBS_RETRY_MAX_MS", "2000"),
        ("BGJOBS_RETRY_ATTEMPTS", "10"),
    ];
    let _consumer = consumer(system, "product-upload/hung-storage", &settings)?;
    let job_id = system.submit_products(product_file(ROWS, &[])).await?;
    let job: JobId = job_id.parse()?;
    wait::until("a tenth of the file committed", DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(job).await?;
        Ok(checkpoint.filter(|c| c.rows_committed >= ROWS / 10))
    })
    .await?;

    let silent_at = Instant::now();
    proxy.drop_answers();
    let fault = wait::until("a transient fault reported", DEADLINE, || async {
        let log = system.log(&job_id).await?;
        Ok(log.into_iter().find(|entry| entry.message.starts_with("transient fault")))
    })
    .await?;
    let reported_after = silent_at.elapsed();
    tokio::time::sleep(SILENCE.saturating_sub(reported_after)).await;
    proxy.deliver_answers();

    let jobs = assert_all_final(system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let finished = &jobs[0];
    ensure_completed_on(finished, 1)?;
    assert_legal_transitions(&system.log(&job_id).await?);
    assert_applied_once(system, finished, ROWS, ROWS).await?;
    eprintln!(
        "hung storage: the first transient fault was reported {reported_after:?} after the \
         store fell silent ({}); completed on attempt 1 {:?} after it",
        fault.message,
        silent_at.elapsed()
    );
    Ok(())
}
