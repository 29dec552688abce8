//! Events held until their job's Started arrives (events of one job can arrive in any
//! order when several registry replicas share the event consumer).

/// Adds `held` and the event's results file key to `jobs.job_events`, and an index of
/// the held rows.
pub(crate) const UP: &str = r#"
-- A held event is logged as ignored while it waits; once applied it is an ordinary
-- applied line. Its results file key is kept so that applying it later loses nothing.
ALTER TABLE jobs.job_events
    ADD COLUMN IF NOT EXISTS held boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS result_object_key text;

CREATE INDEX IF NOT EXISTS job_events_held
    ON jobs.job_events (job_id)
    WHERE held;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP INDEX IF EXISTS jobs.job_events_held;
ALTER TABLE jobs.job_events
    DROP COLUMN IF EXISTS result_object_key,
    DROP COLUMN IF EXISTS held;
"#;
