//! `catalog.client_deletions_begun`: the deletions that have begun deleting a client,
//! which product batches look up before they write.

/// Creates `catalog.client_deletions_begun`.
pub(crate) const UP: &str = r#"
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

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.client_deletions_begun;
"#;
