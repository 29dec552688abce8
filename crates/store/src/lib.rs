//! Postgres persistence of bgjobs: jobs schema (state, message log) and catalog schema (domain data), with migrations.
