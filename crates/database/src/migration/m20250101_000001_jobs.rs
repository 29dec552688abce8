//! The `jobs` schema: job state and the message log, written only by jobs-registry.

/// Creates `jobs.jobs` and `jobs.job_events`.
pub(crate) const UP: &str = r#"
CREATE SCHEMA IF NOT EXISTS jobs;

CREATE TABLE IF NOT EXISTS jobs.jobs (
    job_id              uuid        PRIMARY KEY,
    account_id          text        NOT NULL,
    job_type            text        NOT NULL,
    status              text        NOT NULL,
    attempt             integer     NOT NULL CHECK (attempt >= 1),
    message             text        NOT NULL,
    input_object_key    text,
    result_object_key   text,
    original_file_name  text,
    parameters          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    client_id           text,
    user_id             text,
    warehouse_id        text,
    rows_total          bigint      NOT NULL DEFAULT 0 CHECK (rows_total >= 0),
    rows_processed      bigint      NOT NULL DEFAULT 0 CHECK (rows_processed >= 0),
    rows_rejected       bigint      NOT NULL DEFAULT 0 CHECK (rows_rejected >= 0),
    -- Position of the last event applied in the current attempt; all null or none.
    last_attempt        integer,
    last_delivery       integer,
    last_sequence       bigint,
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_by          text        NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_last_applied_complete CHECK (
        (last_attempt IS NULL) = (last_delivery IS NULL)
        AND (last_attempt IS NULL) = (last_sequence IS NULL)
    )
);

-- The page: one account's jobs, newest first, keyset-paginated.
CREATE INDEX IF NOT EXISTS jobs_account_created
    ON jobs.jobs (account_id, created_at DESC, job_id DESC);
-- The status and type filters keep the same order, so a filtered page is an index range too.
CREATE INDEX IF NOT EXISTS jobs_account_status_created
    ON jobs.jobs (account_id, status, created_at DESC, job_id DESC);
CREATE INDEX IF NOT EXISTS jobs_account_type_created
    ON jobs.jobs (account_id, job_type, created_at DESC, job_id DESC);
-- Stall detection scans only the unfinished jobs, across accounts.
CREATE INDEX IF NOT EXISTS jobs_unfinished_updated
    ON jobs.jobs (status, updated_at) WHERE status IN ('new', 'in_progress');

CREATE TABLE IF NOT EXISTS jobs.job_events (
    event_id        uuid        PRIMARY KEY,
    job_id          uuid        NOT NULL REFERENCES jobs.jobs (job_id) ON DELETE CASCADE,
    account_id      text        NOT NULL,
    attempt         integer     NOT NULL,
    delivery        integer     NOT NULL,
    sequence        bigint      NOT NULL,
    kind            text        NOT NULL,
    message         text        NOT NULL,
    status_before   text        NOT NULL,
    status_after    text        NOT NULL,
    ignored         boolean     NOT NULL,
    ignore_reason   text,
    actor           text        NOT NULL,
    rows_total      bigint,
    rows_processed  bigint,
    rows_rejected   bigint,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT job_events_counters_complete CHECK (
        (rows_total IS NULL) = (rows_processed IS NULL)
        AND (rows_total IS NULL) = (rows_rejected IS NULL)
    )
);

CREATE INDEX IF NOT EXISTS job_events_job_recorded
    ON jobs.job_events (job_id, recorded_at);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS jobs.job_events;
DROP TABLE IF EXISTS jobs.jobs;
DROP SCHEMA IF EXISTS jobs;
"#;
