//! A fresh, empty Postgres database per test.

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database};

/// The server tests use: the local stack's Postgres unless `BGJOBS_TEST_POSTGRES_URL`
/// (a URL without a database name, e.g. `postgres://postgres@127.0.0.1:5432`) says otherwise.
pub fn server_url() -> String {
    std::env::var("BGJOBS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Creates an empty database with a unique name and returns its URL.
///
/// Databases are left behind for inspection after a failure; `deploy/stack.sh clean`
/// drops every `bgjobs_t_*` database.
pub async fn fresh_database() -> anyhow::Result<String> {
    fresh_database_on(&server_url()).await
}

/// Creates an empty database with a unique name on the server at `server` (a URL
/// without a database name) and returns its URL.
pub async fn fresh_database_on(server: &str) -> anyhow::Result<String> {
    let name = format!("bgjobs_t_{}", crate::unique_suffix());
    let admin = Database::connect(format!("{server}/postgres"))
        .await
        .with_context(|| format!("connecting to Postgres at {server}; is the local stack up?"))?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .with_context(|| format!("creating test database {name}"))?;
    admin.close().await.ok();
    Ok(format!("{server}/{name}"))
}
