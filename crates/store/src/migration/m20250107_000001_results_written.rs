//! Whether an upload attempt's results file is stored, so a late copy of its message
//! does not replace it.

use sea_orm_migration::prelude::*;

/// Adds `catalog.job_checkpoints.results_written`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250107_000001_results_written"
    }
}

const UP: &str = r#"
-- Set once the checkpoint's attempt has stored its complete results file; every batch
-- written (a new attempt's first included) sets it back to false.
ALTER TABLE catalog.job_checkpoints
    ADD COLUMN IF NOT EXISTS results_written BOOLEAN NOT NULL DEFAULT false;
"#;

const DOWN: &str = r#"
ALTER TABLE catalog.job_checkpoints DROP COLUMN IF EXISTS results_written;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await.map(|_| ())
    }
}
