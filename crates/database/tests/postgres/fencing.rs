//! Fencing by attempt: once a job's attempt is superseded (a retry started a newer
//! one) or the job has ended, that attempt's writes are refused and leave nothing
//! behind: no row, no checkpoint, no key claim, no deletion.

use bgjobs_database::catalog::delete_client::DeleteStep;
use bgjobs_database::catalog::{Checkpoint, Product, WriteMode};
use bgjobs_database::{Error, Store};
use bgjobs_domain::{EventKind, JobId};

use crate::support::{account, event, fresh_store, new_job, numbered, numbered_from, product};

const WRITE: WriteMode = WriteMode::CreateOrUpdate;

fn products(skus: &[&str]) -> Vec<Product> {
    skus.iter().map(|sku| product(sku, "A product")).collect()
}

fn through(attempt: u32, rows_committed: u64) -> Checkpoint {
    Checkpoint { attempt, rows_committed, ..Checkpoint::default() }
}

/// A registered product upload of client-1 of acme; the client exists.
async fn registered_job(store: &Store) -> anyhow::Result<JobId> {
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client 1").await?;
    Ok(store.jobs().create_job(new_job(&acme, "alice")).await?.0.job_id)
}

fn is_superseded(result: &Result<impl std::fmt::Debug, Error>, attempt: u32, current: u32) -> bool {
    matches!(
        result,
        Err(Error::Superseded { attempt: a, current: c, .. }) if (*a, *c) == (attempt, current)
    )
}

#[tokio::test]
async fn batches_of_a_superseded_attempt_are_refused_and_write_nothing() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = registered_job(&store).await?;
    // Still New (the registry has not applied Started yet): the attempt may write.
    let first = numbered(&products(&["A", "B"]));
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &first, WRITE, &through(1, 2))
        .await?;
    store.jobs().record_event(event(&acme, job, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, job, (1, 1, 2), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, job, "bob", "").await?.expect("the job exists");

    // The stale worker of attempt 1 goes on: every write is refused.
    let later = numbered_from(3, &products(&["C", "B"]));
    let applied = store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &later, WRITE, &through(1, 4))
        .await;
    assert!(is_superseded(&applied, 1, 2), "{applied:?}");
    assert_eq!(
        applied.unwrap_err().to_string(),
        format!(
            "attempt 1 of job {job} is superseded (the job is at attempt 2, new); its writes are refused"
        )
    );
    let checked =
        store.catalog().check_product_batch(job, 1, &acme, "client-1", &later, WRITE).await;
    assert!(is_superseded(&checked, 1, 2), "{checked:?}");
    let cleared = store.catalog().clear_upload_keys(job, 1).await;
    assert!(is_superseded(&cleared, 1, 2), "{cleared:?}");
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 2);
    assert_eq!(store.catalog().get_product(&acme, "client-1", "C").await?, None);
    assert_eq!(
        store.catalog().checkpoint(job).await?.map(|c| (c.attempt, c.rows_committed)),
        Some((1, 2))
    );

    // Attempt 2 writes; it finds exactly attempt 1's two claims (A, B), none of C.
    assert_eq!(store.catalog().clear_upload_keys(job, 2).await?, 2);
    let again = numbered(&products(&["A", "B", "C"]));
    let applied = store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &again, WRITE, &through(2, 3))
        .await?;
    assert_eq!((applied.counts.created, applied.counts.unchanged), (1, 2));
    assert_eq!(
        store.catalog().checkpoint(job).await?.map(|c| (c.attempt, c.rows_committed)),
        Some((2, 3))
    );
    Ok(())
}

#[tokio::test]
async fn an_ended_job_refuses_its_own_attempt_s_deletions() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = registered_job(&store).await?;
    let seeded = numbered(&products(&["A", "B", "C"]));
    let other = JobId::new();
    store
        .catalog()
        .apply_product_batch_as(other, &acme, "client-1", &seeded, WRITE, &through(1, 3))
        .await?;
    store.jobs().record_event(event(&acme, job, (1, 1, 1), EventKind::Started)).await?;
    let step = store.catalog().delete_client_batch(job, 1, &acme, "client-1", 1).await?;
    assert!(matches!(step, DeleteStep::Rows(_)), "{step:?}");
    store.jobs().record_event(event(&acme, job, (1, 1, 2), EventKind::Completed)).await?;

    let deleted = store.catalog().delete_client_batch(job, 1, &acme, "client-1", 1).await;
    assert!(is_superseded(&deleted, 1, 1), "{deleted:?}");
    let begun = store.catalog().begin_client_deletion(job, 1, &acme, "client-1").await;
    assert!(is_superseded(&begun, 1, 1), "{begun:?}");
    assert_eq!(store.catalog().count_products(&acme, "client-1").await?, 2);
    let progress = store.catalog().client_deletion_progress(job, &acme).await?;
    assert_eq!(progress.iter().map(|table| table.rows).sum::<u64>(), 1);
    // Nothing began: the client's uploads still write.
    let more = numbered_from(4, &products(&["D"]));
    store
        .catalog()
        .apply_product_batch_as(other, &acme, "client-1", &more, WRITE, &through(1, 4))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_duplicate_delivery_of_the_same_attempt_cannot_write_rows_another_delivery_committed()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = registered_job(&store).await?;
    // Two copies of the job message run the same attempt from the same checkpoint.
    let rows = numbered(&products(&["A", "B"]));
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &rows, WRITE, &through(1, 2))
        .await?;
    let again = store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &rows, WRITE, &through(1, 2))
        .await;
    assert_eq!(
        again.unwrap_err().to_string(),
        format!(
            "another delivery of attempt 1 of job {job} has already committed through row 2; \
             this one stops so that no row is written twice"
        )
    );
    // A batch reaching past the checkpoint but starting inside it is refused too.
    let overlapping = numbered_from(2, &products(&["B", "C"]));
    let refused = store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &overlapping, WRITE, &through(1, 3))
        .await;
    assert!(matches!(refused, Err(Error::Overtaken { committed: 2, .. })), "{refused:?}");
    assert_eq!(
        store.catalog().get_product(&acme, "client-1", "C").await?,
        None,
        "nothing was written"
    );
    let checkpoint = store.catalog().checkpoint(job).await?.expect("a checkpoint");
    assert_eq!((checkpoint.rows_committed, checkpoint.rows_created), (2, 2));

    // The delivery that is ahead goes on past its own checkpoint.
    let next = numbered_from(3, &products(&["C"]));
    let mut after = through(1, 3);
    after.rows_created = 2;
    store.catalog().apply_product_batch_as(job, &acme, "client-1", &next, WRITE, &after).await?;
    let checkpoint = store.catalog().checkpoint(job).await?.expect("a checkpoint");
    assert_eq!((checkpoint.rows_committed, checkpoint.rows_created), (3, 3));
    Ok(())
}

#[tokio::test]
async fn a_stored_results_file_is_marked_for_its_attempt_only_and_a_new_attempt_clears_it()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let job = registered_job(&store).await?;
    let written =
        |checkpoint: Option<Checkpoint>| checkpoint.map(|c| (c.attempt, c.results_written));
    let first = numbered(&products(&["A", "B"]));
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &first, WRITE, &through(1, 2))
        .await?;
    assert_eq!(written(store.catalog().checkpoint(job).await?), Some((1, false)));

    // Another attempt's mark changes nothing; the checkpoint's own attempt's does.
    store.catalog().mark_results_written(job, 2, 0).await?;
    assert_eq!(written(store.catalog().checkpoint(job).await?), Some((1, false)));
    store.catalog().mark_results_written(job, 1, 0).await?;
    assert_eq!(written(store.catalog().checkpoint(job).await?), Some((1, true)));

    // A retry's first batch starts the next attempt's checkpoint unmarked.
    store.jobs().record_event(event(&acme, job, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, job, (1, 1, 2), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, job, "bob", "").await?.expect("the job exists");
    store.catalog().clear_upload_keys(job, 2).await?;
    store
        .catalog()
        .apply_product_batch_as(job, &acme, "client-1", &first, WRITE, &through(2, 2))
        .await?;
    assert_eq!(written(store.catalog().checkpoint(job).await?), Some((2, false)));
    Ok(())
}
