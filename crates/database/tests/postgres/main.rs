//! Store tests against the local Postgres; each test migrates a fresh database of its own.

mod catalog;
mod check_pass;
mod client_integrity;
mod client_lock;
mod connect;
mod create_job;
mod delete_client;
mod deletion_begun;
mod duplicates;
mod event_order;
mod fencing;
mod idle_transaction;
mod key_lifetime;
mod lifecycle;
mod list_jobs;
mod location_keys;
mod migrate;
mod notifications;
mod record_event;
mod replay;
mod support;
mod takeover;
mod timeouts;
mod unstarted;
mod warehouse;
mod write_modes;
