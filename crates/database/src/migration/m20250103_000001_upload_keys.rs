//! `catalog.upload_keys`: the natural keys an upload job has claimed, for duplicate
//! detection in flat memory.

/// Creates `catalog.upload_keys`.
pub(crate) const UP: &str = r#"
-- One row per (upload job, natural key): the input row that first gave the key.
-- Claimed in the transaction of the row's batch and its checkpoint, so after a crash
-- the keys and the checkpoint agree and a redelivered job resumes exactly. Logged
-- (not UNLOGGED): a Postgres crash must not lose keys whose checkpoint survived.
-- No foreign key to jobs.jobs: the jobs schema belongs to jobs-registry. The consumer
-- clears a job's keys when an attempt starts from row 0 and when the job ends.
CREATE TABLE IF NOT EXISTS catalog.upload_keys (
    job_id       uuid   NOT NULL,
    -- The key within the job's scope: a product's SKU; a location's warehouse and
    -- code as '<bytes of warehouse>:<warehouse>:<code>' (unambiguous whatever they hold).
    natural_key  text   NOT NULL,
    first_row    bigint NOT NULL CHECK (first_row >= 1),
    PRIMARY KEY (job_id, natural_key)
);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.upload_keys;
"#;
