//! `jobs.jobs.published_at`: when the message of the job's latest published attempt
//! was last confirmed, so that a job left New although its message was queued (a lost
//! message) can be found and published again, at most once per wait.

/// Adds `jobs.jobs.published_at` and the index of the unstarted-job sweep.
pub(crate) const UP: &str = r#"
-- NULL until a publish is confirmed with this column in place; a New job published
-- before it is judged by updated_at alone.
ALTER TABLE jobs.jobs ADD COLUMN IF NOT EXISTS published_at timestamptz;
-- The sweep: New jobs whose current attempt was published, oldest change first.
CREATE INDEX IF NOT EXISTS jobs_unstarted_updated
    ON jobs.jobs (updated_at)
    WHERE status = 'new' AND published_attempt >= attempt;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.jobs_unstarted_updated;
ALTER TABLE jobs.jobs DROP COLUMN IF EXISTS published_at;
"#;
