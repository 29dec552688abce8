//! What the notifier reads besides the event stream: the registry's own moves of a job
//! to Error (a dead-lettered message, a worker lost for good).

/// Creates `notifier.cursors` and an index of those moves in `jobs.job_events`.
pub(crate) const UP: &str = r#"
-- How far the notifier has read a source other than the event stream.
CREATE TABLE IF NOT EXISTS notifier.cursors (
    name        text        PRIMARY KEY,
    position    timestamptz NOT NULL
);

-- The registry's own moves of a job to Error, by when they were recorded.
CREATE INDEX IF NOT EXISTS job_events_registry_failures
    ON jobs.job_events (recorded_at)
    WHERE delivery = 0 AND status_after = 'error' AND status_before <> 'error';
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.job_events_registry_failures;
DROP TABLE IF EXISTS notifier.cursors;
"#;
