//! A bug in a row parser: the consumer's reader thread panics on the file's first row
//! (the test package's crashing consumer with `BGJOBS_TEST_ONLY_CRASH_BY=panic`). The
//! job must fail saying so, not complete as if the rows read so far were the whole
//! file (before this was found, it completed as "0 of 0 rows imported"). Retried after
//! the fixed consumer is deployed, it completes once.

use std::path::Path;
use std::time::{Duration, Instant};

use bgjobs_domain::JobStatus;
use bgjobs_e2e::invariants::{
    assert_all_final, assert_applied_once, assert_legal_transitions, catalogue_checksum,
    fault_free_checksum, valid_rows,
};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::RetryJobRequest;

use crate::consumer;
use crate::poison_file::{CRASHING_PRODUCT_UPLOAD, POISON_SKU};

const ROWS: u64 = 5_000;
const BAD_ROWS: [u64; 1] = [4_000];
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_row_parser_that_panics_fails_the_job_instead_of_completing_it_short()
-> anyhow::Result<()> {
    let file = product_file(ROWS, &BAD_ROWS);
    let started = Instant::now();
    let (checksum, reference) = tokio::join!(panicking_run(&file), fault_free_checksum(&file));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!("parser panic: total with the fault-free reference {:?}", started.elapsed());
    Ok(())
}

async fn panicking_run(file: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let mut buggy = ServiceProcess::start(
        Path::new(CRASHING_PRODUCT_UPLOAD),
        &system,
        "product-upload/buggy",
        "faults",
        &[("BGJOBS_TEST_ONLY_CRASH_ON_SKU", POISON_SKU), ("BGJOBS_TEST_ONLY_CRASH_BY", "panic")],
    )?;
    let job_id = system.submit_products(file.to_owned()).await?;
    let jobs = assert_all_final(&system, std::slice::from_ref(&job_id), DEADLINE).await?;
    let failed = &jobs[0];
    assert_eq!(
        (job_status_from_proto(failed.status), failed.message.as_str()),
        (
            Some(JobStatus::Error),
            "reading the file stopped unexpectedly after row 0 because of an internal error; \
             nothing was imported. Retry the job; if it fails again, report it with the file"
        )
    );
    eprintln!("parser panic: failed {:?} after start", started.elapsed());

    // The fixed consumer replaces the buggy one; the user retries the job.
    buggy.terminate()?;
    buggy.exited(DEADLINE).await?;
    let _fixed = consumer(&system, "product-upload/fixed", &[])?;
    let retry = RetryJobRequest {
        account_id: system.account.to_string(),
        job_id: job_id.clone(),
        actor: "ann@example.com".to_owned(),
        reason: "the import bug is fixed".to_owned(),
    };
    system.ingest.clone().retry_job(retry).await?;
    let jobs = assert_all_final(&system, std::slice::from_ref(&job_id), DEADLINE).await?;
    eprintln!("parser panic: retried and completed {:?} after start", started.elapsed());
    let finished = &jobs[0];
    assert_eq!(
        (job_status_from_proto(finished.status), finished.attempt),
        (Some(JobStatus::Completed), 2),
        "{}",
        finished.message
    );
    assert_legal_transitions(&system.log(&job_id).await?);
    assert_applied_once(&system, finished, ROWS, valid_rows(ROWS, &BAD_ROWS)).await?;
    let checksum = catalogue_checksum(&system, &system.account, &system.client_id).await?;
    system.stop().await?;
    Ok(checksum)
}
