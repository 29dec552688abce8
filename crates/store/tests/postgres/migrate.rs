use bgjobs_store::Store;

use crate::support::fresh_store;

#[tokio::test]
async fn migrating_again_is_harmless() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    store.migrate().await?;
    store.migrate().await?;
    Ok(())
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() -> anyhow::Result<()> {
    let url = bgjobs_test_support::postgres::fresh_database().await?;
    let first = Store::connect(&url).await?;
    let second = Store::connect(&url).await?;
    let (first_result, second_result) = tokio::join!(first.migrate(), second.migrate());
    first_result?;
    second_result?;
    Ok(())
}
