//! Who is emailed when a job ends, and the notifier's record of each email.

/// Adds `jobs.jobs.notify_email`, `jobs.jobs.notify_time_zone` and the `notifier`
/// schema with `notifier.notifications`.
pub(crate) const UP: &str = r#"
ALTER TABLE jobs.jobs
    ADD COLUMN IF NOT EXISTS notify_email text,
    ADD COLUMN IF NOT EXISTS notify_time_zone text;

CREATE SCHEMA IF NOT EXISTS notifier;

-- One row per job outcome (job, attempt, completed or failed): the key that makes it
-- one email however often the event arrives. Written only by the notifier.
CREATE TABLE IF NOT EXISTS notifier.notifications (
    job_id              uuid        NOT NULL,
    attempt             integer     NOT NULL CHECK (attempt >= 1),
    outcome             text        NOT NULL CHECK (outcome IN ('completed', 'failed')),
    account_id          text        NOT NULL,
    -- What the terminal event said, so the email needs no second look at the event.
    message             text        NOT NULL,
    rows_total          bigint,
    rows_processed      bigint,
    rows_rejected       bigint,
    result_object_key   text,
    occurred_at         timestamptz NOT NULL,
    -- pending until sent, failed for good, or skipped when nobody is to be emailed.
    state               text        NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    recipient           text,
    tries               integer     NOT NULL DEFAULT 0,
    next_try_at         timestamptz NOT NULL DEFAULT now(),
    -- A sender holds a pending row until then; after it, another may take it over.
    claimed_until       timestamptz,
    claimed_by          text,
    last_error          text,
    -- When the job's message log got the line saying what became of the email.
    noted_at            timestamptz,
    give_up_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    PRIMARY KEY (job_id, attempt, outcome),
    CONSTRAINT notifications_counters_complete CHECK (
        (rows_total IS NULL) = (rows_processed IS NULL)
        AND (rows_total IS NULL) = (rows_rejected IS NULL)
    )
);

-- The senders' queue: rows still to send or to note in the job's log, by when due.
CREATE INDEX IF NOT EXISTS notifications_due
    ON notifier.notifications (next_try_at) WHERE noted_at IS NULL;
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS notifier.notifications;
DROP SCHEMA IF EXISTS notifier;
ALTER TABLE jobs.jobs DROP COLUMN IF EXISTS notify_time_zone, DROP COLUMN IF EXISTS notify_email;
"#;
