//! Location keys: the warehouse and the code together, and the check pass.

use bgjobs_database::catalog::{RowOutcome, WriteMode};
use bgjobs_domain::JobId;

use crate::support::{account, fresh_store, location, numbered, numbered_from, through};

#[tokio::test]
async fn a_location_is_a_duplicate_only_of_the_same_warehouse_and_code() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    for warehouse in ["WH1", "WH2", "AB", "A"] {
        store.catalog().ensure_warehouse(&acme, warehouse, warehouse).await?;
    }
    let job = JobId::new();
    // ("AB", "C") and ("A", "BC") read the same when simply joined.
    let rows = [
        location("WH1", "A-1", 10),
        location("WH2", "A-1", 10),
        location("AB", "C", 10),
        location("A", "BC", 10),
        location("WH1", "A-1", 10),
    ];

    let applied = store
        .catalog()
        .apply_location_batch_as(
            job,
            &acme,
            &numbered(&rows),
            WriteMode::CreateOrUpdate,
            &through(5),
        )
        .await?;

    use RowOutcome::Created;
    let first_given = RowOutcome::Duplicate { first_row: 1 };
    assert_eq!(applied.rows, vec![Created, Created, Created, Created, first_given]);
    assert_eq!(store.catalog().clear_upload_keys(job, 1).await?, 4);
    Ok(())
}

#[tokio::test]
async fn checking_a_location_batch_claims_its_keys_and_writes_nothing() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.catalog().ensure_warehouse(&acme, "WH1", "Main").await?;
    let seed = [location("WH1", "OLD", 10)];
    store
        .catalog()
        .apply_location_batch_as(
            JobId::new(),
            &acme,
            &numbered(&seed),
            WriteMode::CreateOrUpdate,
            &through(1),
        )
        .await?;
    let rows = [location("WH1", "OLD", 10), location("WH1", "NEW", 10), location("WH1", "OLD", 10)];
    let first_given = Some(RowOutcome::Duplicate { first_row: 1 });

    for (write, expected) in [
        (WriteMode::CreateOrUpdate, vec![None, None, first_given]),
        (WriteMode::CreateOnly, vec![Some(RowOutcome::AlreadyExists), None, first_given]),
        (WriteMode::UpdateOnly, vec![None, Some(RowOutcome::DoesNotExist), first_given]),
    ] {
        let job = JobId::new();
        let checked =
            store.catalog().check_location_batch(job, 1, &acme, &numbered(&rows), write).await?;
        assert_eq!(checked, expected, "{write}");
        assert_eq!(store.catalog().checkpoint(job).await?, None, "{write}");
        let again = store
            .catalog()
            .check_location_batch(job, 1, &acme, &numbered_from(4, &rows[..1]), write)
            .await?;
        assert_eq!(again, vec![first_given], "{write}: claims of the check are committed");
    }
    assert_eq!(store.catalog().count_locations(&acme, "WH1").await?, 1);
    Ok(())
}
