//! When an upload's key claims are forgotten without a call of their own: by a
//! checkpoint claim that finds nothing of the attempt committed, and with the mark that
//! the attempt stored its results file, unless a newer attempt owns them by then.

use bgjobs_database::Store;
use bgjobs_database::catalog::{Checkpoint, Product, RowOutcome, WriteMode};
use bgjobs_domain::{EventKind, JobId};

use crate::support::{account, event, fresh_store, new_job, numbered, product};

const WRITE: WriteMode = WriteMode::CreateOrUpdate;

fn products(skus: &[&str]) -> Vec<Product> {
    skus.iter().map(|sku| product(sku, "A product")).collect()
}

/// A registered product upload of client-1 of acme; the client exists.
async fn registered_job(store: &Store) -> anyhow::Result<JobId> {
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client 1").await?;
    Ok(store.jobs().create_job(new_job(&acme, "alice")).await?.0.job_id)
}

/// What an all-or-nothing check of `skus` under `job`'s attempt `attempt` would say.
async fn check(
    store: &Store,
    job: JobId,
    attempt: u32,
    skus: &[&str],
) -> anyhow::Result<Vec<Option<RowOutcome>>> {
    let rows = numbered(&products(skus));
    let acme = account("acme");
    Ok(store.catalog().check_product_batch(job, attempt, &acme, "client-1", &rows, WRITE).await?)
}

#[tokio::test]
async fn a_claim_finding_nothing_committed_forgets_the_keys_claimed_before_it() -> anyhow::Result<()>
{
    let store = fresh_store().await?;
    let job = registered_job(&store).await?;
    // An all-or-nothing check claimed A and B, then its delivery was interrupted.
    assert_eq!(check(&store, job, 1, &["A", "B"]).await?, vec![None, None]);

    let resume = store.catalog().claim_checkpoint(job, 1, 2).await?;

    assert_eq!(resume.rows_committed, 0);
    assert_eq!(check(&store, job, 1, &["A", "B"]).await?, vec![None, None], "not duplicates");
    Ok(())
}

#[tokio::test]
async fn a_claim_resuming_after_committed_rows_keeps_their_keys() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = registered_job(&store).await?;
    let written = numbered(&products(&["A", "B"]));
    let through = Checkpoint { attempt: 1, rows_committed: 2, ..Checkpoint::default() };
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &written, WRITE, &through)
        .await?;

    let resume = store.catalog().claim_checkpoint(job, 1, 2).await?;

    assert_eq!(resume.rows_committed, 2);
    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 2);
    Ok(())
}

#[tokio::test]
async fn the_results_mark_forgets_the_attempt_s_keys_but_not_a_newer_attempt_s()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = registered_job(&store).await?;
    let written = numbered(&products(&["A", "B"]));
    let through =
        |attempt| Checkpoint { attempt, delivery: 1, rows_committed: 2, ..Checkpoint::default() };
    let catalog = store.catalog();
    catalog.claim_checkpoint(job, 1, 1).await?;
    catalog.apply_product_batch_as(job, &acme, "client-1", &written, WRITE, &through(1)).await?;

    catalog.mark_results_written(job, 1, 1).await?;
    assert_eq!(catalog.clear_upload_keys(job, 1).await?, 0, "the mark forgot them");

    // A retry's attempt 2 claims the keys again; a late mark of attempt 1 leaves them.
    store.jobs().record_event(event(&acme, job, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, job, (1, 1, 2), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, job, "bob", "").await?.expect("the job exists");
    catalog.claim_checkpoint(job, 2, 1).await?;
    catalog.apply_product_batch_as(job, &acme, "client-1", &written, WRITE, &through(2)).await?;
    catalog.mark_results_written(job, 1, 1).await?;
    assert_eq!(catalog.clear_upload_keys(job, 2).await?, 2, "attempt 2's keys stayed");
    Ok(())
}
