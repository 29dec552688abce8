//! `catalog.client_deletions`: what each Delete Client job has deleted so far.

/// Creates `catalog.client_deletions`.
pub(crate) const UP: &str = r#"
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

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.client_deletions;
"#;
