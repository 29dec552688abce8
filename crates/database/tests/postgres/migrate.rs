use bgjobs_database::Store;

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

#[tokio::test]
async fn claimed_upload_keys_are_crash_safe_like_their_checkpoints() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};

    let store = fresh_store().await?;
    let connection = store.connection();
    let persistence = connection
        .query_one(Statement::from_string(
            connection.get_database_backend(),
            "SELECT relpersistence::text FROM pg_class WHERE oid = 'catalog.upload_keys'::regclass",
        ))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?;
    // 'p': a permanent (WAL-logged) table; an UNLOGGED one ('u') is emptied by a crash.
    assert_eq!(persistence.as_deref(), Some("p"));
    Ok(())
}

#[tokio::test]
async fn catalog_keys_compare_bytes_whatever_the_database_locale() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};

    let store = fresh_store().await?;
    let connection = store.connection();
    let collations = connection
        .query_all(Statement::from_string(
            connection.get_database_backend(),
            "SELECT attrelid::regclass::text || '.' || attname, attcollation::regcollation::text \
             FROM pg_attribute \
             WHERE (attrelid, attname) IN (('catalog.products'::regclass, 'sku'), \
                 ('catalog.warehouse_locations'::regclass, 'location_code'), \
                 ('catalog.upload_keys'::regclass, 'natural_key')) \
             ORDER BY 1",
        ))
        .await?
        .iter()
        .map(|row| Ok((row.try_get_by_index::<String>(0)?, row.try_get_by_index::<String>(1)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let expected = [
        "catalog.products.sku",
        "catalog.upload_keys.natural_key",
        "catalog.warehouse_locations.location_code",
    ];
    assert_eq!(collations, expected.map(|column| (column.to_owned(), "\"C\"".to_owned())).to_vec());
    Ok(())
}
