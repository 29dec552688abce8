//! Schema migrations, applied in order by [`crate::Store::migrate`].
//!
//! Each migration is plain Postgres DDL: the schema uses Postgres types (jsonb,
//! numeric(p,s), descending index keys) that read more clearly as SQL than through a
//! portable builder. Statements use `IF NOT EXISTS` so a half-recorded migration can
//! be re-run safely.

use sea_orm_migration::prelude::*;

mod m20250101_000001_jobs;
mod m20250101_000002_catalog;
mod m20250102_000001_client_deletions;
mod m20250102_000002_warehouses;
mod m20250103_000001_upload_keys;
mod m20250104_000001_client_deletions_begun;
mod m20250105_000001_published_attempt;
mod m20250106_000001_jobs_account_updated;
mod m20250107_000001_results_written;

/// The ordered list of this crate's migrations.
pub(crate) struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_jobs::Migration),
            Box::new(m20250101_000002_catalog::Migration),
            Box::new(m20250102_000001_client_deletions::Migration),
            Box::new(m20250102_000002_warehouses::Migration),
            Box::new(m20250103_000001_upload_keys::Migration),
            Box::new(m20250104_000001_client_deletions_begun::Migration),
            Box::new(m20250105_000001_published_attempt::Migration),
            Box::new(m20250106_000001_jobs_account_updated::Migration),
            Box::new(m20250107_000001_results_written::Migration),
        ]
    }

    /// Our own bookkeeping table, so another migrator in the same database (which
    /// would refuse versions it does not know) never sees ours.
    fn migration_table_name() -> DynIden {
        Alias::new("bgjobs_store_migrations").into_iden()
    }
}
