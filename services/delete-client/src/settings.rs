//! The delete-client consumer's configuration: the settings every consumer shares,
//! and how long a deletion waits for running uploads.

use std::time::Duration;

use bgjobs_config::values::Seconds;
use bgjobs_config::{Environment, Error, Load, Section, Variable};
use bgjobs_consumer::Defaults;

bgjobs_config::section! {
    /// What only delete-client reads.
    pub struct Deletion {
        /// How long a deletion waits for the client's running product upload before
        /// its delivery is requeued.
        "BGJOBS_LOCK_WAIT_SECS" => lock_wait: Seconds<1, 86400> = "600";
    }
}

/// Everything the consumer needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What every consumer reads; here `BGJOBS_BATCH_SIZE` counts rows deleted per
    /// committed batch.
    pub consumer: bgjobs_consumer::Settings,
    /// How long a deletion waits for the client's running uploads before the delivery
    /// is requeued.
    pub lock_wait: Duration,
    deletion: Deletion,
}

/// The consumer's name: the default worker id starts with it.
pub const SERVICE: &str = "delete-client";

/// What delete-client does unless its settings say otherwise: 1,000 rows deleted per
/// committed batch (small enough that a batch holds its row locks only briefly), one
/// deletion at a time (one already keeps a Postgres core busy).
pub const DEFAULTS: Defaults = Defaults { batch_size: 1_000, concurrency: 1 };

impl Settings {
    /// Reads the settings from `environment`.
    pub fn load(environment: &Environment<'_>) -> Result<Self, Error> {
        let deletion = Deletion::load(environment)?;
        Ok(Self {
            consumer: bgjobs_consumer::Settings::load(environment, SERVICE, DEFAULTS)?,
            lock_wait: deletion.lock_wait.get(),
            deletion,
        })
    }
}

impl Section for Settings {
    fn variables() -> Vec<&'static Variable> {
        let mut all = bgjobs_consumer::Settings::variables();
        bgjobs_config::add_variables(&mut all, Deletion::variables());
        all
    }

    fn show(&self, out: &mut Vec<(&'static str, String)>) {
        self.consumer.show(out);
        self.deletion.show(out);
    }
}

impl AsRef<bgjobs_consumer::Settings> for Settings {
    fn as_ref(&self) -> &bgjobs_consumer::Settings {
        &self.consumer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &'static str)]) -> Result<Settings, String> {
        Settings::load(&Environment::from_pairs(pairs.iter().copied()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.consumer.batch_size, 1_000);
        assert_eq!(settings.consumer.concurrency, 1);
        assert_eq!(settings.lock_wait, Duration::from_secs(600));
        assert_eq!(settings.consumer.nats_url.expose(), "nats://127.0.0.1:4222");
        assert!(settings.consumer.worker_id.starts_with("delete-client/"));
    }

    #[test]
    fn a_bad_lock_wait_is_refused_with_its_range() {
        assert_eq!(
            load(&[("BGJOBS_LOCK_WAIT_SECS", "0")]).unwrap_err(),
            "BGJOBS_LOCK_WAIT_SECS='0' is not allowed: expected a whole number of seconds from 1 \
             to 86400"
        );
    }

    #[test]
    fn it_reads_what_every_consumer_reads_and_its_own() {
        let names: Vec<&str> = Settings::variables().iter().map(|variable| variable.name).collect();
        assert!(names.contains(&"BGJOBS_BATCH_SIZE") && names.contains(&"BGJOBS_LOCK_WAIT_SECS"));
    }
}
