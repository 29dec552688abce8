//! The validation pass of an all-or-nothing upload: keys claimed, nothing written.

use bgjobs_database::catalog::{RowOutcome, WriteMode};
use bgjobs_domain::JobId;

use crate::support::{account, fresh_store, numbered, numbered_from, product, through};

#[tokio::test]
async fn checking_a_product_batch_refuses_as_the_write_would_and_writes_nothing()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let seed = numbered(&[product("OLD", "old")]);
    store
        .catalog()
        .apply_product_batch_as(
            JobId::new(),
            &acme,
            "c1",
            &seed,
            WriteMode::CreateOrUpdate,
            &through(1),
        )
        .await?;
    let rows =
        numbered(&[product("OLD", "changed"), product("NEW", "new"), product("OLD", "again")]);
    let first_given = Some(RowOutcome::Duplicate { first_row: 1 });

    for (write, expected) in [
        (WriteMode::CreateOrUpdate, vec![None, None, first_given]),
        (WriteMode::CreateOnly, vec![Some(RowOutcome::AlreadyExists), None, first_given]),
        (WriteMode::UpdateOnly, vec![None, Some(RowOutcome::DoesNotExist), first_given]),
    ] {
        let job = JobId::new();
        let checked =
            store.catalog().check_product_batch(job, 1, &acme, "c1", &rows, write).await?;
        assert_eq!(checked, expected, "{write}");
        assert_eq!(store.catalog().checkpoint(job).await?, None, "{write}");
        // A later batch of the check pass sees the committed claims.
        let later = numbered_from(4, &[product("NEW", "new")]);
        let again = store.catalog().check_product_batch(job, 1, &acme, "c1", &later, write).await?;
        assert_eq!(again, vec![Some(RowOutcome::Duplicate { first_row: 2 })], "{write}");
    }
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 1);
    let kept = store.catalog().get_product(&acme, "c1", "OLD").await?.map(|found| found.name);
    assert_eq!(kept.as_deref(), Some("old"));
    Ok(())
}

#[tokio::test]
async fn the_write_pass_after_a_check_pass_writes_the_rows_that_hold_their_claims()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_client(&acme, "c1", "Client").await?;
    let job = JobId::new();
    let rows = numbered(&[product("A", "a"), product("B", "b"), product("A", "again")]);
    store.catalog().check_product_batch(job, 1, &acme, "c1", &rows, WriteMode::CreateOnly).await?;

    let applied = store
        .catalog()
        .apply_product_batch_as(job, &acme, "c1", &rows, WriteMode::CreateOnly, &through(3))
        .await?;

    let first_given = RowOutcome::Duplicate { first_row: 1 };
    assert_eq!(applied.rows, vec![RowOutcome::Created, RowOutcome::Created, first_given]);
    assert_eq!(store.catalog().count_products(&acme, "c1").await?, 2);
    Ok(())
}
