//! An index for watching an account's recent changes (the registry's `WatchJobs`).

/// Creates `jobs.jobs_account_updated`.
pub(crate) const UP: &str = r#"
-- WatchJobs asks every half second per open page "what changed in this account since
-- T": an index range instead of a scan of the account's whole history.
CREATE INDEX IF NOT EXISTS jobs_account_updated
    ON jobs.jobs (account_id, updated_at);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.jobs_account_updated;
"#;
