//! Postgres persistence of bgjobs: jobs schema (state, message log) and catalog schema (domain data), with migrations.
//!
//! [`Store`] connects and migrates; it hands out [`JobsStore`] (the registry's: job
//! state and the message log) and [`CatalogStore`] (the consumers': the catalogue and
//! checkpoints), so a service can only write the schema it owns. All are cheap to
//! clone over one connection pool. Every job query is scoped by account, so a caller
//! cannot read or change another tenant's job by guessing its id.

pub mod catalog;
mod convert;
mod entities;
mod error;
pub mod jobs;
mod migration;
pub mod notifications;
mod settings;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use sea_orm_migration::MigratorTrait;

pub use error::Error;
/// The decimal type of catalogue numbers (weights, dimensions, prices).
pub use rust_decimal::Decimal;
pub use settings::{
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Settings,
};

/// Connections per process: enough for a service's concurrent requests and batches,
/// small enough that a few replicas stay far below Postgres' default 100.
const MAX_CONNECTIONS: u32 = 10;
/// How long to wait for Postgres to accept a connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Key of the advisory lock that serialises migrations of concurrently starting replicas
/// (an arbitrary constant: "bgjobs" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6267_6a6f_6273;

/// A handle to the bgjobs database; clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    connection: DatabaseConnection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection's Debug output would include the URL and its password.
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `database_url` (e.g. `postgres://postgres@127.0.0.1:5432/bgjobs`)
    /// with the default [`Settings`].
    pub async fn connect(database_url: &str) -> Result<Self, Error> {
        Self::connect_with(database_url, &Settings::default()).await
    }

    /// Connects to `database_url` with `settings`.
    pub async fn connect_with(database_url: &str, settings: &Settings) -> Result<Self, Error> {
        let mut options = ConnectOptions::new(database_url);
        options
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // Statements are traced by our own spans; sqlx's per-statement log lines are noise.
            .sqlx_logging(false);
        // Session parameters sent at connect time (`-c` in the startup options), so they
        // hold on every pooled connection, including ones opened after a reconnect.
        let milliseconds = |timeout: Duration| timeout.as_millis().to_string();
        let session = [
            (
                "idle_in_transaction_session_timeout",
                milliseconds(settings.idle_in_transaction_timeout),
            ),
            ("statement_timeout", milliseconds(settings.statement_timeout)),
            ("lock_timeout", milliseconds(settings.lock_timeout)),
        ];
        options.map_sqlx_postgres_opts(move |pg_options| pg_options.options(session.clone()));
        let connection = Database::connect(options).await.map_err(|source| Error::Connect {
            server: bgjobs_config::values::redact_password(database_url),
            source,
        })?;
        Ok(Self { connection })
    }

    /// Wraps an existing connection (e.g. one shared with another component).
    pub fn from_connection(connection: DatabaseConnection) -> Self {
        Self { connection }
    }

    /// Brings the `jobs` and `catalog` schemas up to date; safe to call on every start,
    /// also from several replicas at once.
    pub async fn migrate(&self) -> Result<(), Error> {
        let transaction = self.connection.begin().await?;
        // A migration may rewrite a whole table, and a second replica waits here for as
        // long as the first one migrates: neither is bounded like the store's own work.
        transaction
            .execute_unprepared("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
            .await?;
        // Held until commit: a second replica waits here, then finds nothing to do.
        transaction
            .execute(sea_orm::Statement::from_sql_and_values(
                self.connection.get_database_backend(),
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
        migration::Migrator::up(&transaction, None).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The underlying connection, for callers that need a query this API lacks.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// The registry's handle: job state and the message log (the `jobs` schema).
    pub fn jobs(&self) -> JobsStore {
        JobsStore { connection: self.connection.clone() }
    }

    /// The notifier's handle: its record of each email (the `notifier` schema).
    pub fn notifications(&self) -> notifications::NotificationsStore {
        notifications::NotificationsStore { connection: self.connection.clone() }
    }

    /// The consumers' handle: the catalogue and their checkpoints (the `catalog`
    /// schema), with only reads of job state.
    pub fn catalog(&self) -> CatalogStore {
        CatalogStore { connection: self.connection.clone() }
    }
}

/// The `jobs` schema, which only the registry writes: a service holding this handle
/// cannot write the catalogue. Clones share one connection pool.
#[derive(Clone)]
pub struct JobsStore {
    connection: DatabaseConnection,
}

/// The `catalog` schema, which the consumers write: a service holding this handle
/// cannot change job state (it may read it, to fence and to wait). Clones share one
/// connection pool.
#[derive(Clone)]
pub struct CatalogStore {
    connection: DatabaseConnection,
}

impl std::fmt::Debug for JobsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobsStore").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogStore").finish_non_exhaustive()
    }
}
