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
mod m20250108_000001_notifications;
mod m20250109_000001_registry_failures;
mod m20250110_000001_held_events;
mod m20250111_000001_published_at;
mod m20250112_000001_checkpoint_delivery;
mod m20250113_000001_jobs_creator_index;
mod m20250114_000001_products_client_check;
mod m20250115_000001_deferred_upload_keys;
mod m20250116_000001_byte_order_keys;

/// The ordered list of this crate's migrations.
pub(crate) struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let sql = |name, up, down| Box::new(Sql { name, up, down }) as Box<dyn MigrationTrait>;
        vec![
            sql("m20250101_000001_jobs", m20250101_000001_jobs::UP, m20250101_000001_jobs::DOWN),
            sql(
                "m20250101_000002_catalog",
                m20250101_000002_catalog::UP,
                m20250101_000002_catalog::DOWN,
            ),
            sql(
                "m20250102_000001_client_deletions",
                m20250102_000001_client_deletions::UP,
                m20250102_000001_client_deletions::DOWN,
            ),
            sql(
                "m20250102_000002_warehouses",
                m20250102_000002_warehouses::UP,
                m20250102_000002_warehouses::DOWN,
            ),
            sql(
                "m20250103_000001_upload_keys",
                m20250103_000001_upload_keys::UP,
                m20250103_000001_upload_keys::DOWN,
            ),
            sql(
                "m20250104_000001_client_deletions_begun",
                m20250104_000001_client_deletions_begun::UP,
                m20250104_000001_client_deletions_begun::DOWN,
            ),
            sql(
                "m20250105_000001_published_attempt",
                m20250105_000001_published_attempt::UP,
                m20250105_000001_published_attempt::DOWN,
            ),
            sql(
                "m20250106_000001_jobs_account_updated",
                m20250106_000001_jobs_account_updated::UP,
                m20250106_000001_jobs_account_updated::DOWN,
            ),
            sql(
                "m20250107_000001_results_written",
                m20250107_000001_results_written::UP,
                m20250107_000001_results_written::DOWN,
            ),
            sql(
                "m20250108_000001_notifications",
                m20250108_000001_notifications::UP,
                m20250108_000001_notifications::DOWN,
            ),
            sql(
                "m20250109_000001_registry_failures",
                m20250109_000001_registry_failures::UP,
                m20250109_000001_registry_failures::DOWN,
            ),
            sql(
                "m20250110_000001_held_events",
                m20250110_000001_held_events::UP,
                m20250110_000001_held_events::DOWN,
            ),
            sql(
                "m20250111_000001_published_at",
                m20250111_000001_published_at::UP,
                m20250111_000001_published_at::DOWN,
            ),
            sql(
                "m20250112_000001_checkpoint_delivery",
                m20250112_000001_checkpoint_delivery::UP,
                m20250112_000001_checkpoint_delivery::DOWN,
            ),
            sql(
                "m20250113_000001_jobs_creator_index",
                m20250113_000001_jobs_creator_index::UP,
                m20250113_000001_jobs_creator_index::DOWN,
            ),
            sql(
                "m20250114_000001_products_client_check",
                m20250114_000001_products_client_check::UP,
                m20250114_000001_products_client_check::DOWN,
            ),
            sql(
                "m20250115_000001_deferred_upload_keys",
                m20250115_000001_deferred_upload_keys::UP,
                m20250115_000001_deferred_upload_keys::DOWN,
            ),
            sql(
                "m20250116_000001_byte_order_keys",
                m20250116_000001_byte_order_keys::UP,
                m20250116_000001_byte_order_keys::DOWN,
            ),
        ]
    }

    /// Our own bookkeeping table, so another migrator in the same database (which
    /// would refuse versions it does not know) never sees ours.
    fn migration_table_name() -> DynIden {
        Alias::new("bgjobs_store_migrations").into_iden()
    }
}

/// A migration of plain SQL, recorded under `name` (the module's name).
struct Sql {
    name: &'static str,
    up: &'static str,
    down: &'static str,
}

impl MigrationName for Sql {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Sql {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.up).await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.down).await.map(|_| ())
    }
}
