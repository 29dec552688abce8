//! Connecting to the bgjobs database, creating it first when the server lacks it.

use anyhow::Context;
use bgjobs_database::Store;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbErr, RuntimeErr};

/// Postgres' code for "database does not exist" (invalid_catalog_name).
const MISSING_DATABASE: &str = "3D000";
/// Postgres' code for "database already exists" (duplicate_database).
const DUPLICATE_DATABASE: &str = "42P04";
/// A unique violation: what a concurrent CREATE DATABASE of the same name can also raise.
const UNIQUE_VIOLATION: &str = "23505";

/// Connects to `database_url`; when the database does not exist yet, creates it through
/// the server's `postgres` database and connects again. A fresh machine and every test
/// start this way, without a separate set-up step.
pub async fn connect_creating_database(
    database_url: &str,
    settings: &bgjobs_database::Settings,
) -> anyhow::Result<Store> {
    let first_error = match Store::connect_with(database_url, settings).await {
        Ok(store) => return Ok(store),
        Err(error) => error,
    };
    if !has_code(&first_error, MISSING_DATABASE) {
        return Err(first_error).context("connecting to Postgres");
    }
    let (admin_url, database) =
        split_database(database_url).context("the database URL names no database to create")?;
    tracing::info!(database, "creating missing database");
    create_database(&admin_url, database).await?;
    Store::connect_with(database_url, settings)
        .await
        .with_context(|| format!("connecting to new database {database}"))
}

async fn create_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    let mut options = ConnectOptions::new(admin_url);
    options.max_connections(1).sqlx_logging(false);
    let admin = Database::connect(options)
        .await
        .context("connecting to the server's postgres database to create the bgjobs database")?;
    let quoted = format!("\"{}\"", database.replace('"', "\"\""));
    let created = admin.execute_unprepared(&format!("CREATE DATABASE {quoted}")).await;
    admin.close().await.ok();
    match created {
        Ok(_) => Ok(()),
        // Another replica or test created it at the same moment: just as good.
        Err(error)
            if db_err_code(&error)
                .is_some_and(|code| code == DUPLICATE_DATABASE || code == UNIQUE_VIOLATION) =>
        {
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("creating database {database}")),
    }
}

fn has_code(error: &bgjobs_database::Error, code: &str) -> bool {
    match error {
        bgjobs_database::Error::Database(db_error)
        | bgjobs_database::Error::Connect { source: db_error, .. } => {
            db_err_code(db_error).as_deref() == Some(code)
        }
        _ => false,
    }
}

fn db_err_code(error: &DbErr) -> Option<String> {
    let (DbErr::Conn(RuntimeErr::SqlxError(sqlx_error))
    | DbErr::Exec(RuntimeErr::SqlxError(sqlx_error))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_error))) = error
    else {
        return None;
    };
    match sqlx_error {
        sea_orm::sqlx::Error::Database(database_error) => {
            database_error.code().map(|code| code.into_owned())
        }
        _ => None,
    }
}

/// `postgres://u@h:5432/name?opts` → (`postgres://u@h:5432/postgres?opts`, `name`).
fn split_database(database_url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = database_url.split_once("://")?;
    let (authority, path) = rest.split_once('/')?;
    let (database, query) = match path.split_once('?') {
        Some((database, query)) => (database, Some(query)),
        None => (path, None),
    };
    if database.is_empty() {
        return None;
    }
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    Some((format!("{scheme}://{authority}/postgres{query}"), database))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_url_keeps_server_and_options_and_swaps_the_database() {
        assert_eq!(
            split_database("postgres://app:pw@db:5432/bgjobs?sslmode=require"),
            Some(("postgres://app:pw@db:5432/postgres?sslmode=require".to_owned(), "bgjobs"))
        );
        assert_eq!(
            split_database("postgres://postgres@127.0.0.1:5432/bgjobs_t_1"),
            Some(("postgres://postgres@127.0.0.1:5432/postgres".to_owned(), "bgjobs_t_1"))
        );
        assert_eq!(split_database("postgres://db:5432/"), None);
        assert_eq!(split_database("postgres://db:5432"), None);
    }
}
