//! An index for the page's Created By filter.

/// Creates `jobs.jobs_account_creator_created`.
pub(crate) const UP: &str = r#"
-- The Created By filter first finds the account's creators whose name contains the
-- text: a skip scan of this index visits each distinct creator once, whatever the
-- number of jobs. Their jobs, newest first, are then an index range per creator.
CREATE INDEX IF NOT EXISTS jobs_account_creator_created
    ON jobs.jobs (account_id, created_by, created_at DESC, job_id DESC);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.jobs_account_creator_created;
"#;
