//! The `catalog` schema's warehouses and their locations (Warehouse Upload).

/// Creates `catalog.warehouses` and `catalog.warehouse_locations`.
pub(crate) const UP: &str = r#"
CREATE TABLE IF NOT EXISTS catalog.warehouses (
    account_id    text        NOT NULL,
    -- The reference users type in files and on the page, unique per account.
    warehouse_id  text        NOT NULL,
    name          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, warehouse_id)
);

CREATE TABLE IF NOT EXISTS catalog.warehouse_locations (
    account_id     text        NOT NULL,
    warehouse_id   text        NOT NULL,
    location_code  text        NOT NULL,
    zone           text,
    aisle          text,
    bay            text,
    level          text,
    location_type  text        CHECK (location_type IN ('pick', 'bulk', 'reserve', 'staging', 'dock')),
    pickable       boolean,
    capacity       integer     CHECK (capacity BETWEEN 0 AND 1000000),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- The job that last created or changed the row; no foreign key, since the
    -- jobs schema belongs to jobs-registry and may live elsewhere.
    last_job_id    uuid,
    PRIMARY KEY (account_id, warehouse_id, location_code),
    FOREIGN KEY (account_id, warehouse_id) REFERENCES catalog.warehouses (account_id, warehouse_id)
);
"#;

/// Undoes [`UP`].
pub(crate) const DOWN: &str = r#"
DROP TABLE IF EXISTS catalog.warehouse_locations;
DROP TABLE IF EXISTS catalog.warehouses;
"#;
