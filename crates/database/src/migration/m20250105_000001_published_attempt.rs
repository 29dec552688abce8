//! `jobs.jobs.published_attempt`: the latest attempt whose job message the broker
//! confirmed, so that a job left New without a queued message can be found and
//! published again.

/// Adds `jobs.jobs.published_attempt` and the index of the republishing sweep.
pub(crate) const UP: &str = r#"
-- NULL until ingest has published the first attempt's message with a confirm.
ALTER TABLE jobs.jobs ADD COLUMN IF NOT EXISTS published_attempt integer;
-- Jobs that already left New were evidently published; New ones of before this
-- column are left NULL and published again by the sweep (a duplicate is harmless).
UPDATE jobs.jobs SET published_attempt = attempt
    WHERE published_attempt IS NULL AND status <> 'new';
-- The sweep: New jobs whose current attempt is not published yet, oldest change first.
CREATE INDEX IF NOT EXISTS jobs_unpublished_updated
    ON jobs.jobs (updated_at)
    WHERE status = 'new' AND (published_attempt IS NULL OR published_attempt < attempt);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.jobs_unpublished_updated;
ALTER TABLE jobs.jobs DROP COLUMN IF EXISTS published_attempt;
"#;
