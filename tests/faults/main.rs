//! The fault-injection suite: real services and real consumer processes on
//! loopback, with one fault injected per scenario. Every scenario proves the same four
//! invariants ([`bgjobs_e2e::invariants`]): every submitted job reaches Completed or
//! Error, the catalogue equals what a fault-free run of the same file produces, no
//! message log shows an illegal state transition, and no row is applied twice.
//!
//! Run it with `make faults` (`cargo test -p bgjobs-e2e --test faults`); each scenario
//! prints its seed (where it has one) and its timings. What each scenario does and
//! what it measured is in docs/fault-injection.md.

mod dropped_connection;
mod dry_run_beside_uploads;
mod duplicate_delivery;
mod duplicate_events;
mod hung_storage;
mod kill_consumer;
mod kill_notifier;
mod lost_answer;
mod lost_message;
mod nats_outage;
mod parser_panic;
mod poison_file;
mod registry_handover;
mod registry_outage;
mod replayed_retries;
mod replicas;
mod restarts;
mod sigterm;
mod stalled_consumer;
mod two_deleters;

use std::path::Path;

use bgjobs_e2e::TestSystem;
use bgjobs_e2e::process::ServiceProcess;

/// The `product-upload` consumer as this package's binary (see `tests/bin`), built by
/// cargo together with the suite.
const PRODUCT_UPLOAD: &str = env!("CARGO_BIN_EXE_e2e-product-upload");

/// Rows per committed batch in the scenarios' consumers: small enough that a fault
/// lands between commits many times in a file.
const BATCH_ROWS: u64 = 200;

/// Starts the real product-upload consumer as a child process of the system, named
/// `worker_id`, with batches of [`BATCH_ROWS`] and `extra_env`.
fn consumer(
    system: &TestSystem,
    worker_id: &str,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<ServiceProcess> {
    let batch = BATCH_ROWS.to_string();
    let mut env = vec![("BGJOBS_BATCH_SIZE", batch.as_str())];
    env.extend_from_slice(extra_env);
    ServiceProcess::start(Path::new(PRODUCT_UPLOAD), system, worker_id, "faults", &env)
}

/// The seed of a scenario's random choices: `BGJOBS_FAULTS_SEED` to replay a run,
/// else a fresh one (the scenario prints it).
fn seed() -> anyhow::Result<u64> {
    match std::env::var("BGJOBS_FAULTS_SEED") {
        Ok(seed) => seed.parse().map_err(|_| {
            anyhow::anyhow!("BGJOBS_FAULTS_SEED is '{seed}'; it must be a whole number")
        }),
        Err(_) => Ok(rand::random()),
    }
}
