//! The delete-client consumer's configuration, read once from the environment: the
//! settings every consumer shares, and how long a deletion waits for running uploads.

use std::time::Duration;

/// Everything the consumer needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What every consumer reads; here `BGJOBS_BATCH_SIZE` (default 1,000) counts rows
    /// deleted per committed batch: small enough that a batch holds its row locks
    /// only briefly.
    pub consumer: bgjobs_consumer::Settings,
    /// How long a deletion waits for the client's running uploads before the delivery
    /// is requeued (`BGJOBS_LOCK_WAIT_SECS`, 1 to 86,400; default 600).
    pub lock_wait: Duration,
}

/// The consumer's name: the default worker id starts with it.
pub const SERVICE: &str = "delete-client";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests can pass their own values.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let lock_wait_secs = match get("BGJOBS_LOCK_WAIT_SECS") {
            None => 600,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(seconds) if (1..=86_400).contains(&seconds) => seconds,
                _ => {
                    return Err(format!(
                        "BGJOBS_LOCK_WAIT_SECS '{raw}' is not a whole number from 1 to 86400"
                    ));
                }
            },
        };
        Ok(Self {
            consumer: bgjobs_consumer::Settings::from_lookup_with(SERVICE, 1_000, &get)?,
            lock_wait: Duration::from_secs(lock_wait_secs),
        })
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

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = Settings::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(settings.consumer.batch_size, 1_000);
        assert_eq!(settings.lock_wait, Duration::from_secs(600));
        assert_eq!(settings.consumer.nats_url, "nats://127.0.0.1:4222");
        assert!(settings.consumer.worker_id.starts_with("delete-client/"));
    }

    #[test]
    fn a_bad_batch_size_is_refused_with_its_range() {
        let error =
            Settings::from_lookup(|name| (name == "BGJOBS_BATCH_SIZE").then(|| "0".to_owned()))
                .unwrap_err();
        assert_eq!(error, "BGJOBS_BATCH_SIZE '0' is not a whole number from 1 to 10000");
    }

    #[test]
    fn a_bad_lock_wait_is_refused_with_its_range() {
        let error =
            Settings::from_lookup(|name| (name == "BGJOBS_LOCK_WAIT_SECS").then(|| "0".to_owned()))
                .unwrap_err();
        assert_eq!(error, "BGJOBS_LOCK_WAIT_SECS '0' is not a whole number from 1 to 86400");
    }
}
