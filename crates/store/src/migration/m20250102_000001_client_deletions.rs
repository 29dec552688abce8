//! `catalog.client_deletions`: what each Delete Client job has deleted so far.

use sea_orm_migration::prelude::*;

/// Creates `catalog.client_deletions`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250102_000001_client_deletions"
    }
}

const UP: &str = r#"
-- One row per (job, table): rows of that table the job has deleted, raised in the
-- transaction that deletes them, so a redelivered job reports the true total and
-- knows whether it already deleted the client row itself (table_name 'clients').
CREATE TABLE IF NOT EXISTS catalog.client_deletions (
    job_id          uuid        NOT NULL,
    table_name      text        NOT NULL,
    account_id      text        NOT NULL,
    client_id       text        NOT NULL,
    rows_deleted    bigint      NOT NULL CHECK (rows_deleted >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, table_name)
);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.client_deletions;
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
