//! `catalog.upload_key_batches`: the keys of upload batches that inserted only new
//! rows, kept one row per batch instead of one claim per key.

/// Creates `catalog.upload_key_batches`.
pub(crate) const UP: &str = r#"
-- A batch whose rows were all new needs no claim per key to stay correct: each of its
-- keys was absent from the table, so no earlier row of the job gave it, and a later
-- row giving it again finds the record and fails its insert. Only then are the claims
-- needed, with the row that gave each key: this table keeps them per batch, written in
-- the batch's transaction, and the first batch of the job that claims keys moves them
-- into catalog.upload_keys. One row of two arrays costs Postgres far less than 2,000
-- rows and index entries.
CREATE TABLE IF NOT EXISTS catalog.upload_key_batches (
    job_id        uuid     NOT NULL,
    -- The batch's first input row: it identifies the batch within the job.
    first_row     bigint   NOT NULL CHECK (first_row >= 1),
    -- Each key as in catalog.upload_keys, and the input row that gave it.
    natural_keys  text[]   NOT NULL,
    first_rows    bigint[] NOT NULL,
    PRIMARY KEY (job_id, first_row),
    CHECK (cardinality(natural_keys) = cardinality(first_rows))
);
-- Stored out of line uncompressed: the rows live until the job ends, and compressing
-- every batch's keys would cost more than the space it saves.
ALTER TABLE catalog.upload_key_batches
    ALTER COLUMN natural_keys SET STORAGE EXTERNAL,
    ALTER COLUMN first_rows SET STORAGE EXTERNAL;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.upload_key_batches;
"#;
