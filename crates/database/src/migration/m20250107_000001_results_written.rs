//! Whether an upload attempt's results file is stored, so a late copy of its message
//! does not replace it.

/// Adds `catalog.job_checkpoints.results_written`.
pub(crate) const UP: &str = r#"
-- Set once the checkpoint's attempt has stored its complete results file; every batch
-- written (a new attempt's first included) sets it back to false.
ALTER TABLE catalog.job_checkpoints
    ADD COLUMN IF NOT EXISTS results_written BOOLEAN NOT NULL DEFAULT false;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
ALTER TABLE catalog.job_checkpoints DROP COLUMN IF EXISTS results_written;
"#;
