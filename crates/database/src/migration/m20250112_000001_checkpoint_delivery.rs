//! Which delivery of the checkpoint's attempt owns it, so that the newest delivery
//! of an attempt is the one that writes, as the registry's order of events says.

/// Adds `catalog.job_checkpoints.delivery`.
pub(crate) const UP: &str = r#"
-- The newest delivery of the checkpoint's attempt that has claimed it; 0 for a
-- checkpoint written before the column existed. A batch of an older delivery is refused.
ALTER TABLE catalog.job_checkpoints
    ADD COLUMN IF NOT EXISTS delivery INTEGER NOT NULL DEFAULT 0;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
ALTER TABLE catalog.job_checkpoints DROP COLUMN IF EXISTS delivery;
"#;
