//! The newest delivery of an attempt owns its checkpoint, as the registry's order of
//! events says: once a redelivery has claimed it, the older delivery (still running
//! after its broker connection dropped) writes nothing more, however far ahead it is.

use bgjobs_database::Error;
use bgjobs_database::catalog::{Checkpoint, Product, WriteMode};
use bgjobs_domain::{EventKind, JobId};

use crate::support::{account, event, fresh_store, new_job, numbered_from, product};

const WRITE: WriteMode = WriteMode::CreateOrUpdate;

fn batch(first: u64, skus: &[&str]) -> Vec<(u64, Product)> {
    let products: Vec<Product> = skus.iter().map(|sku| product(sku, "A product")).collect();
    numbered_from(first, &products)
}

fn is_taken_over(result: &Result<impl std::fmt::Debug, Error>, delivery: u32, by: u32) -> bool {
    matches!(
        result,
        Err(Error::TakenOver { delivery: d, by: b, .. }) if (*d, *b) == (delivery, by)
    )
}

#[tokio::test]
async fn a_newer_delivery_claims_the_checkpoint_and_the_older_one_writes_nothing_more()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client 1").await?;
    let job: JobId = store.jobs().create_job(new_job(&acme, "alice")).await?.0.job_id;
    let catalog = store.catalog();

    // Delivery 1 claims a fresh checkpoint and commits rows 1-2.
    let first = catalog.claim_checkpoint(job, 1, 1).await?;
    assert_eq!((first.attempt, first.delivery, first.rows_committed), (1, 1, 0));
    let after = Checkpoint { rows_committed: 2, ..first };
    catalog
        .apply_product_batch_as(job, &acme, "client-1", &batch(1, &["A", "B"]), WRITE, &after)
        .await?;

    // Its message is redelivered (delivery 2) while it runs on: the claim resumes
    // from what delivery 1 committed.
    let second = catalog.claim_checkpoint(job, 1, 2).await?;
    assert_eq!((second.delivery, second.rows_committed, second.rows_created), (2, 2, 2));

    // Delivery 1 is ahead, but its next batch is refused and writes nothing.
    let ahead = Checkpoint { rows_committed: 4, rows_created: 2, ..first };
    let refused = catalog
        .apply_product_batch_as(job, &acme, "client-1", &batch(3, &["C", "D"]), WRITE, &ahead)
        .await;
    assert!(is_taken_over(&refused, 1, 2), "{refused:?}");
    assert_eq!(
        refused.unwrap_err().to_string(),
        format!(
            "delivery 1 of attempt 1 of job {job} was taken over by delivery 2; it stops, and \
             writes nothing more"
        )
    );
    assert_eq!(catalog.get_product(&acme, "client-1", "C").await?, None);
    let stored = catalog.ensure_current_delivery(job, 1, 1).await;
    assert!(is_taken_over(&stored, 1, 2), "{stored:?}");
    let marked = catalog.mark_results_written(job, 1, 1).await;
    assert!(is_taken_over(&marked, 1, 2), "{marked:?}");
    let late = catalog.claim_checkpoint(job, 1, 1).await;
    assert!(is_taken_over(&late, 1, 2), "a copy of delivery 1 arriving late: {late:?}");

    // Delivery 2 goes on from row 3 and finishes.
    let resumed = Checkpoint { rows_committed: 4, ..second };
    catalog
        .apply_product_batch_as(job, &acme, "client-1", &batch(3, &["C", "D"]), WRITE, &resumed)
        .await?;
    catalog.ensure_current_delivery(job, 1, 2).await?;
    catalog.mark_results_written(job, 1, 2).await?;
    let done = catalog.checkpoint(job).await?.expect("a checkpoint");
    assert_eq!((done.delivery, done.rows_committed, done.rows_created), (2, 4, 4));
    assert!(done.results_written);
    assert_eq!(catalog.count_products(&acme, "client-1").await?, 4);
    Ok(())
}

#[tokio::test]
async fn a_new_attempt_claims_a_fresh_checkpoint() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client 1").await?;
    let job: JobId = store.jobs().create_job(new_job(&acme, "alice")).await?.0.job_id;
    let catalog = store.catalog();
    let first = catalog.claim_checkpoint(job, 1, 3).await?;
    let after = Checkpoint { rows_committed: 1, ..first };
    catalog
        .apply_product_batch_as(job, &acme, "client-1", &batch(1, &["A"]), WRITE, &after)
        .await?;
    store.jobs().record_event(event(&acme, job, (1, 3, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, job, (1, 3, 2), EventKind::Failed)).await?;
    store.jobs().retry_job(&acme, job, "bob", "").await?.expect("the job exists");

    let second = catalog.claim_checkpoint(job, 2, 1).await?;
    assert_eq!((second.attempt, second.delivery, second.rows_committed), (2, 1, 0));
    let superseded = catalog.claim_checkpoint(job, 1, 4).await;
    assert!(matches!(superseded, Err(Error::Superseded { .. })), "{superseded:?}");
    Ok(())
}
