//! End-to-end tests through the public interfaces (ingest's HTTP API, the registry's
//! gRPC API, the queues), one module per behaviour, against the real local stack.

mod authorization;
mod backoff;
mod broker_permissions;
mod client_lock;
mod concurrency;
mod configuration;
mod delete_client;
mod deletion_race;
mod fencing;
mod heartbeat;
mod hostile_files;
mod metrics;
mod notifications;
mod notifier_probes;
mod object_keys;
mod product_upload;
mod results_file;
mod resume;
mod retry;
mod secrets_in_logs;
mod service_shutdown;
mod shutdown;
mod spreadsheet_exports;
mod warehouse_upload;
mod write_modes;
