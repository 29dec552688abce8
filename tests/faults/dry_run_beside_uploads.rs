//! A dry run of a client's deletion beside uploads of that client, every consumer a
//! process. A product upload of the client runs; the dry run is submitted and stays
//! queued (no delete-client consumer runs yet) while a second upload of the client is
//! submitted, which must be accepted: a dry run deletes nothing, so it locks nothing.
//! Then a delete-client process takes the dry run while both uploads run, and the
//! first product-upload process is killed mid-file (a fresh one started, as an
//! orchestrator would). Every job completes on attempt 1, the dry run counted the
//! client's products without deleting any, and the catalogue is a fault-free run's.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::upload::results::thousands;
use bgjobs_domain::{JobId, JobStatus};
use bgjobs_e2e::invariants::{
    assert_all_final, assert_legal_transitions, catalogue_checksum, ensure_completed_on,
    fault_free_checksum,
};
use bgjobs_e2e::process::{ServiceProcess, product_file};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;

use crate::consumer;

/// The `delete-client` consumer as this package's binary (see `tests/bin`).
const DELETE_CLIENT: &str = env!("CARGO_BIN_EXE_e2e-delete-client");

/// Rows of the first upload: long enough to still run when the dry run is done.
const FIRST_ROWS: u64 = 60_000;
/// Rows of the second upload, of other SKUs than the first's.
const SECOND_ROWS: u64 = 20_000;
const DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_dry_run_deletion_beside_uploads_of_its_client_holds_none_up_and_deletes_nothing()
-> anyhow::Result<()> {
    let started = Instant::now();
    let first = product_file(FIRST_ROWS, &[]);
    let second = product_file(SECOND_ROWS, &[]).replace("SKU-", "SKU-B-");
    // The same products uploaded as one file, without faults, for the reference.
    let both = format!("{first}{}", second.split_once('\n').map_or("", |(_, rows)| rows));
    let (checksum, reference) =
        tokio::join!(faulted_run(&first, &second), fault_free_checksum(&both));
    assert_eq!(checksum?, reference?, "the catalogue differs from a fault-free run's");
    eprintln!(
        "dry run beside uploads: total with the fault-free reference {:?}",
        started.elapsed()
    );
    Ok(())
}

/// The faulted run; returns the catalogue's checksum. The system is stopped whatever
/// happens, so that no queue is left on the shared broker.
async fn faulted_run(first: &str, second: &str) -> anyhow::Result<String> {
    let environment = Environment { delete_client_as_process: true, ..Environment::default() };
    let system =
        TestSystem::start_in(Options { product_upload_in_process: false }, environment).await?;
    let checked = check_faulted_run(&system, first, second).await;
    system.stop().await?;
    checked
}

async fn check_faulted_run(
    system: &TestSystem,
    first: &str,
    second: &str,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let killed = consumer(system, "product-upload/killed", &[])?;
    let _other = consumer(system, "product-upload/other", &[])?;
    let first_upload = system.submit_products(first.to_owned()).await?;
    let first_job: JobId = first_upload.parse()?;
    wait::until("the first upload to commit rows", DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(first_job).await?;
        Ok(checkpoint.filter(|checkpoint| checkpoint.rows_committed > 0))
    })
    .await?;

    let dry_run = system.submit_delete_client(&system.client_id, true).await?;
    let queued = system.job(&dry_run).await?;
    anyhow::ensure!(
        job_status_from_proto(queued.status) == Some(JobStatus::New),
        "the dry run is not queued: {queued:?}"
    );
    // Refused (409, "client_locked") while a queued dry run locked its client.
    let second_upload = system.submit_products(second.to_owned()).await.context(
        "an upload of a client was refused while a dry run of the client's deletion was queued",
    )?;
    let second_job: JobId = second_upload.parse()?;
    let before_dry_run = count_products(system).await?;

    let _deleter = ServiceProcess::start(
        Path::new(DELETE_CLIENT),
        system,
        "delete-client/dry",
        "faults",
        &[],
    )?;
    let counted = system.finished_job(&dry_run, DEADLINE).await?;
    let after_dry_run = count_products(system).await?;
    ensure_completed_on(&counted, 1)?;
    let would_delete = products_counted(&counted.message)?;
    anyhow::ensure!(
        (before_dry_run..=after_dry_run).contains(&would_delete),
        "the dry run counted {would_delete} products; the client had {before_dry_run} before it \
         and {after_dry_run} after"
    );
    eprintln!("dry run beside uploads: '{}' {:?} after start", counted.message, started.elapsed());

    wait::until("the second upload to commit rows", DEADLINE, || async {
        let checkpoint = system.store.catalog().checkpoint(second_job).await?;
        Ok(checkpoint.filter(|checkpoint| checkpoint.rows_committed > 0))
    })
    .await?;
    killed.kill()?;
    let _replacement = consumer(system, "product-upload/replacement", &[])?;
    let unfinished = [(first_job, FIRST_ROWS), (second_job, SECOND_ROWS)];
    let mut running_at_kill = Vec::new();
    for (job, rows) in unfinished {
        let committed =
            system.store.catalog().checkpoint(job).await?.map_or(0, |c| c.rows_committed);
        running_at_kill.push(committed);
        anyhow::ensure!(committed < rows, "an upload was done before the kill ({committed} rows)");
    }
    eprintln!(
        "dry run beside uploads: killed a consumer {:?} after start with {running_at_kill:?} rows \
         committed",
        started.elapsed()
    );

    let job_ids = [first_upload, second_upload, dry_run];
    let jobs = assert_all_final(system, &job_ids, DEADLINE).await?;
    eprintln!("dry run beside uploads: every job ended {:?} after start", started.elapsed());
    for (job, rows) in jobs.iter().zip([FIRST_ROWS, SECOND_ROWS]) {
        ensure_completed_on(job, 1)?;
        anyhow::ensure!(
            job.message == format!("{} of {0} rows imported, 0 rejected", thousands(rows)),
            "{}",
            job.message
        );
        // Each row created once: a row written again would count as unchanged.
        let checkpoint = system
            .store
            .catalog()
            .checkpoint(job.job_id.parse()?)
            .await?
            .context("an upload has no checkpoint")?;
        let counted = (
            checkpoint.rows_committed,
            checkpoint.rows_created,
            checkpoint.rows_unchanged,
            checkpoint.rows_updated,
        );
        anyhow::ensure!(counted == (rows, rows, 0, 0), "counts {counted:?} for {rows} rows");
    }
    for job_id in &job_ids {
        assert_legal_transitions(&system.log(job_id).await?);
    }
    anyhow::ensure!(
        system.store.catalog().client_exists(&system.account, &system.client_id).await?,
        "the dry run deleted the client"
    );
    catalogue_checksum(system, &system.account, &system.client_id).await
}

async fn count_products(system: &TestSystem) -> anyhow::Result<u64> {
    Ok(system.store.catalog().count_products(&system.account, &system.client_id).await?)
}

/// The product count of a dry run's message, "Dry run: would delete 12,345 products
/// and the client 'ACME Corp'".
fn products_counted(message: &str) -> anyhow::Result<u64> {
    let count = message
        .strip_prefix("Dry run: would delete ")
        .and_then(|rest| rest.strip_suffix(" products and the client 'ACME Corp'"))
        .with_context(|| format!("not a dry run's message: {message}"))?;
    Ok(count.replace(',', "").parse()?)
}
