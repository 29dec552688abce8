//! The `catalog` schema: the domain data uploads change, and upload checkpoints.

/// Creates `catalog.clients`, `catalog.products` and `catalog.job_checkpoints`.
pub(crate) const UP: &str = r#"
CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE IF NOT EXISTS catalog.clients (
    account_id  text NOT NULL,
    client_id   text NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE IF NOT EXISTS catalog.products (
    account_id          text          NOT NULL,
    client_id           text          NOT NULL,
    sku                 text          NOT NULL,
    name                text          NOT NULL,
    description         text,
    barcode             text,
    weight_kg           numeric(12,3),
    length_cm           numeric(10,2),
    width_cm            numeric(10,2),
    height_cm           numeric(10,2),
    price               numeric(14,2),
    hs_code             text,
    country_of_origin   text,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    -- The job that last created or changed the row; no foreign key, since the
    -- jobs schema belongs to jobs-registry and may live elsewhere.
    last_job_id         uuid,
    PRIMARY KEY (account_id, client_id, sku),
    FOREIGN KEY (account_id, client_id) REFERENCES catalog.clients (account_id, client_id)
);

-- One row per upload job: how far its committed batches got, so a redelivered job
-- resumes after the last committed batch.
CREATE TABLE IF NOT EXISTS catalog.job_checkpoints (
    job_id          uuid        PRIMARY KEY,
    attempt         integer     NOT NULL,
    rows_committed  bigint      NOT NULL,
    rows_created    bigint      NOT NULL,
    rows_updated    bigint      NOT NULL,
    rows_unchanged  bigint      NOT NULL,
    rows_rejected   bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.job_checkpoints;
DROP TABLE IF EXISTS catalog.products;
DROP TABLE IF EXISTS catalog.clients;
DROP SCHEMA IF EXISTS catalog;
"#;
