//! The input row that last wrote each product and location.

/// Adds `last_job_row` to `catalog.products` and `catalog.warehouse_locations`.
pub(crate) const UP: &str = r#"
-- With last_job_id, the input row of that job that created or changed the row. A
-- create-or-update upload finds a later row with the same key (a duplicate) from
-- these two columns, so a written row needs no key claim of its own in
-- catalog.upload_keys: only rows it leaves unchanged are claimed there. Nullable, no
-- default: adding it rewrites nothing, and rows written before it stay NULL.
ALTER TABLE catalog.products ADD COLUMN IF NOT EXISTS last_job_row bigint;
ALTER TABLE catalog.warehouse_locations ADD COLUMN IF NOT EXISTS last_job_row bigint;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
ALTER TABLE catalog.warehouse_locations DROP COLUMN IF EXISTS last_job_row;
ALTER TABLE catalog.products DROP COLUMN IF EXISTS last_job_row;
"#;
