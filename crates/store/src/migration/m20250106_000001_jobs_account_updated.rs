//! An index for watching an account's recent changes (the registry's `WatchJobs`).

use sea_orm_migration::prelude::*;

/// Creates `jobs.jobs_account_updated`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250106_000001_jobs_account_updated"
    }
}

const UP: &str = r#"
-- WatchJobs asks every half second per open page "what changed in this account since
-- T": an index range instead of a scan of the account's whole history.
CREATE INDEX IF NOT EXISTS jobs_account_updated
    ON jobs.jobs (account_id, updated_at);
"#;

const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.jobs_account_updated;
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
