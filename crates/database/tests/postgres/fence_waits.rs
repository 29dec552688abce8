//! Who waits for a job's open batches: a change that supersedes the attempt (an end,
//! a stall recovery) waits for the batches open when it came, and batches begun after
//! it wait behind it and are refused; a worker's Progress waits for nothing.

use std::time::{Duration, Instant};

use bgjobs_database::catalog::{AppliedBatch, Checkpoint, Product, WriteMode};
use bgjobs_database::jobs::RecordOutcome;
use bgjobs_database::{Error, Store};
use bgjobs_domain::{EventKind, JobId, JobStatus};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};
use tokio::task::JoinHandle;

use crate::support::{account, event, fresh_store, new_job, numbered_from, product, sessions};

type Batch = JoinHandle<Result<AppliedBatch, Error>>;

/// A registered product upload of client c1 of acme, Started on attempt 1.
async fn started_job(store: &Store) -> anyhow::Result<JobId> {
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = store.jobs().create_job(new_job(&acme, "alice")).await?.0.job_id;
    store.jobs().record_event(event(&acme, job, (1, 1, 1), EventKind::Started)).await?;
    Ok(job)
}

/// Sends the batch of attempt 1 of `job` writing `skus` from row `first` on.
fn send_batch(store: &Store, job: JobId, first: u64, skus: &[&str]) -> Batch {
    let rows: Vec<Product> = skus.iter().map(|sku| product(sku, "a product")).collect();
    let rows = numbered_from(first, &rows);
    let before = Checkpoint { attempt: 1, rows_committed: first - 1, ..Checkpoint::default() };
    let store = store.clone();
    tokio::spawn(async move {
        let write = WriteMode::CreateOrUpdate;
        store
            .catalog()
            .apply_product_batch_as(job, &account("acme"), "c1", &rows, write, &before)
            .await
    })
}

/// Waits until `count` sessions of `store`'s database wait for a lock.
async fn until_waiting(store: &Store, count: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sessions(store).await?.1 != count {
        anyhow::ensure!(Instant::now() < deadline, "sessions: {:?}", sessions(store).await?);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The first batch of `job` (A, B), open and waiting inside its insert behind another
/// transaction (returned) inserting product A.
async fn an_open_batch(store: &Store, job: JobId) -> anyhow::Result<(DatabaseTransaction, Batch)> {
    let locker = store.connection().begin().await?;
    let insert = "INSERT INTO catalog.products (account_id, client_id, sku, name) \
                  VALUES ('acme', 'c1', 'A', 'elsewhere')";
    locker.execute(Statement::from_string(locker.get_database_backend(), insert)).await?;
    let batch = send_batch(store, job, 1, &["A", "B"]);
    until_waiting(store, 1).await?;
    Ok((locker, batch))
}

fn is_superseded(result: &Result<AppliedBatch, Error>, current: u32, status: JobStatus) -> bool {
    matches!(
        result,
        Err(Error::Superseded { attempt: 1, current: c, status: s, .. })
            if *c == current && s == status.as_str()
    )
}

#[tokio::test]
async fn progress_is_recorded_beside_an_open_batch_and_the_end_waits_for_it() -> anyhow::Result<()>
{
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = started_job(&store).await?;
    let (locker, first) = an_open_batch(&store, job).await?;

    let jobs = store.jobs();
    let progress = jobs.record_event(event(&acme, job, (1, 1, 2), EventKind::Progress));
    let progress = tokio::time::timeout(Duration::from_secs(10), progress).await??;
    assert!(matches!(progress, RecordOutcome::Applied { .. }), "{progress:?}");

    let end = {
        let (store, acme) = (store.clone(), acme.clone());
        let completed = event(&acme, job, (1, 1, 3), EventKind::Completed);
        tokio::spawn(async move { store.jobs().record_event(completed).await })
    };
    until_waiting(&store, 2).await?;
    // A batch begun after the end came queues behind it.
    let second = send_batch(&store, job, 3, &["C"]);
    until_waiting(&store, 3).await?;
    assert!(!end.is_finished() && !second.is_finished());

    locker.rollback().await?;
    assert_eq!(first.await??.counts.created, 2);
    let ended = end.await??;
    assert!(
        matches!(ended, RecordOutcome::Applied { status: JobStatus::Completed, .. }),
        "{ended:?}"
    );
    let second = second.await?;
    assert!(is_superseded(&second, 1, JobStatus::Completed), "{second:?}");
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_stall_recovery_waits_for_the_open_batch_and_later_batches_are_refused()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let job = started_job(&store).await?;
    let (locker, first) = an_open_batch(&store, job).await?;

    let recovery = {
        let store = store.clone();
        let stalled_before = Utc::now() + chrono::Duration::hours(1);
        tokio::spawn(async move { store.jobs().recover_stalled_job(job, stalled_before, 5).await })
    };
    until_waiting(&store, 2).await?;
    let second = send_batch(&store, job, 3, &["C"]);
    until_waiting(&store, 3).await?;
    assert!(!recovery.is_finished() && !second.is_finished());

    locker.rollback().await?;
    assert_eq!(first.await??.counts.created, 2);
    let recovered = recovery.await??.expect("the job was recovered");
    assert_eq!((recovered.status, recovered.attempt), (JobStatus::New, 2));
    let second = second.await?;
    assert!(is_superseded(&second, 2, JobStatus::New), "{second:?}");
    assert_eq!(store.catalog().count_products(&account("acme"), "c1").await?, 2);
    Ok(())
}
