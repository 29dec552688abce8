//! Every product's client exists, and a client with products stays, whoever writes
//! the tables: the rule the database keeps, checked once per statement.

use bgjobs_database::Store;
use sea_orm::{ConnectionTrait, DbErr, SqlErr, Statement, TransactionTrait};

use crate::support::fresh_store;

async fn execute(connection: &impl ConnectionTrait, sql: &str) -> Result<u64, DbErr> {
    let statement = Statement::from_string(connection.get_database_backend(), sql);
    Ok(connection.execute(statement).await?.rows_affected())
}

/// The message of a foreign-key violation, or what the error was instead.
fn foreign_key_violation(result: Result<u64, DbErr>) -> String {
    match result {
        Err(error) => match error.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(message)) => message,
            _ => panic!("expected a foreign-key violation, got {error}"),
        },
        Ok(rows) => panic!("expected a foreign-key violation, {rows} rows were written"),
    }
}

async fn store_with_client() -> anyhow::Result<Store> {
    let store = fresh_store().await?;
    let acme = crate::support::account("acme");
    store.catalog().ensure_client(&acme, "client-1", "Client One").await?;
    Ok(store)
}

const INSERT_FOR_CLIENT_1: &str = "INSERT INTO catalog.products (account_id, client_id, sku, name) \
     VALUES ('acme', 'client-1', 'SKU-1', 'One'), ('acme', 'client-1', 'SKU-2', 'Two')";

#[tokio::test]
async fn a_product_of_a_client_that_does_not_exist_is_refused_naming_it() -> anyhow::Result<()> {
    let store = store_with_client().await?;
    let connection = store.connection();

    let inserted = execute(
        connection,
        "INSERT INTO catalog.products (account_id, client_id, sku, name) \
         VALUES ('acme', 'client-1', 'SKU-1', 'One'), ('acme', 'nobody', 'SKU-2', 'Two')",
    )
    .await;
    let message = foreign_key_violation(inserted);
    assert!(message.contains("client 'nobody' of account 'acme' does not exist"), "{message}");

    execute(connection, INSERT_FOR_CLIENT_1).await?;
    let moved =
        execute(connection, "UPDATE catalog.products SET client_id = 'nobody' WHERE sku = 'SKU-1'")
            .await;
    assert!(foreign_key_violation(moved).contains("'nobody'"));
    let upserted = execute(
        connection,
        "INSERT INTO catalog.products (account_id, client_id, sku, name) \
         VALUES ('acme', 'client-1', 'SKU-1', 'Renamed'), ('acme', 'client-1', 'SKU-3', 'Three') \
         ON CONFLICT (account_id, client_id, sku) DO UPDATE SET name = excluded.name",
    )
    .await?;
    assert_eq!(upserted, 2, "an upsert for an existing client is accepted");
    Ok(())
}

#[tokio::test]
async fn a_client_with_products_cannot_be_deleted_or_renamed() -> anyhow::Result<()> {
    let store = store_with_client().await?;
    let connection = store.connection();
    execute(connection, INSERT_FOR_CLIENT_1).await?;

    let deleted = execute(connection, "DELETE FROM catalog.clients WHERE client_id = 'client-1'");
    let message = foreign_key_violation(deleted.await);
    assert!(
        message.contains("client 'client-1' of account 'acme' still has products"),
        "{message}"
    );
    let renamed = execute(connection, "UPDATE catalog.clients SET client_id = 'client-2'").await;
    assert!(foreign_key_violation(renamed).contains("still has products"));

    execute(connection, "DELETE FROM catalog.products").await?;
    let deleted = execute(connection, "DELETE FROM catalog.clients WHERE client_id = 'client-1'");
    assert_eq!(deleted.await?, 1, "a client without products can go");
    Ok(())
}

#[tokio::test]
async fn a_client_cannot_go_while_a_transaction_that_wrote_its_products_is_open()
-> anyhow::Result<()> {
    let store = store_with_client().await?;
    let connection = store.connection();
    let writer = connection.begin().await?;
    execute(&writer, INSERT_FOR_CLIENT_1).await?;

    // The writer holds the client: a deletion waits for it (here until its lock
    // timeout), rather than deleting a client whose products are about to commit.
    let deleter = connection.begin().await?;
    execute(&deleter, "SET LOCAL lock_timeout = '200ms'").await?;
    let waited = execute(&deleter, "DELETE FROM catalog.clients WHERE client_id = 'client-1'");
    let error = waited.await.expect_err("the deletion did not wait for the writer");
    assert!(error.to_string().contains("lock timeout"), "{error}");
    deleter.rollback().await?;

    writer.commit().await?;
    let deleted = execute(connection, "DELETE FROM catalog.clients WHERE client_id = 'client-1'");
    assert!(foreign_key_violation(deleted.await).contains("still has products"));
    Ok(())
}

#[tokio::test]
async fn products_cannot_be_written_for_a_client_whose_deletion_commits_first() -> anyhow::Result<()>
{
    let store = store_with_client().await?;
    let connection = store.connection();
    let deleter = connection.begin().await?;
    execute(&deleter, "DELETE FROM catalog.clients WHERE client_id = 'client-1'").await?;

    // The client's row is being deleted: a writer waits for the deletion to end.
    let writer = connection.begin().await?;
    execute(&writer, "SET LOCAL lock_timeout = '200ms'").await?;
    let error = execute(&writer, INSERT_FOR_CLIENT_1).await.expect_err("the writer did not wait");
    assert!(error.to_string().contains("lock timeout"), "{error}");
    writer.rollback().await?;

    deleter.commit().await?;
    let inserted = execute(connection, INSERT_FOR_CLIENT_1).await;
    assert!(foreign_key_violation(inserted).contains("does not exist"));
    Ok(())
}
