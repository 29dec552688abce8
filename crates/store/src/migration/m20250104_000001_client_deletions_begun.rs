//! `catalog.client_deletions_begun`: the deletions that have begun deleting a client,
//! which product batches look up before they write.

use sea_orm_migration::prelude::*;

/// Creates `catalog.client_deletions_begun`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250104_000001_client_deletions_begun"
    }
}

const UP: &str = r#"
-- One row per Delete Client job that has begun deleting its client (not for a dry
-- run), inserted under the client's exclusive advisory lock and removed with the
-- client row. A product batch takes the same key's shared lock and looks here (by the
-- primary key's leading columns) before writing, so it either commits before the
-- deletion begins, and is then deleted by it, or is refused.
CREATE TABLE IF NOT EXISTS catalog.client_deletions_begun (
    account_id  text        NOT NULL,
    client_id   text        NOT NULL,
    job_id      uuid        NOT NULL,
    begun_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, client_id, job_id)
);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.client_deletions_begun;
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
