//! The configuration every consumer shares, read once from the environment; a
//! consumer with more settings (delete-client) keeps these inside its own.

use std::time::Duration;

use crate::backoff::{MAX_RETRY_ATTEMPTS, RetryPolicy};

/// Everything the consumer needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Postgres with the catalog schema (`BGJOBS_DATABASE_URL`).
    pub database_url: String,
    /// How the database connections behave (`BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS`).
    pub store: bgjobs_database::Settings,
    /// RabbitMQ (`BGJOBS_AMQP_URL`).
    pub amqp_url: String,
    /// NATS with JetStream (`BGJOBS_NATS_URL`).
    pub nats_url: String,
    /// Prefix of every queue, exchange, stream and subject (`BGJOBS_PREFIX`).
    pub prefix: String,
    /// Object storage (`BGJOBS_S3_*`, `AWS_*`).
    pub s3: bgjobs_object_store::Settings,
    /// Rows per committed batch (`BGJOBS_BATCH_SIZE`, 1 to 10,000).
    pub batch_size: usize,
    /// Least time between Progress events (`BGJOBS_PROGRESS_INTERVAL_MS`).
    pub progress_interval: Duration,
    /// Longest silence of a running delivery before it emits a heartbeat Progress
    /// event (`BGJOBS_HEARTBEAT_SECS`, 1 to 600; default 10, well under the stall
    /// threshold).
    pub heartbeat: Duration,
    /// Messages taken from the queue at once (`BGJOBS_PREFETCH`).
    pub prefetch: u16,
    /// Deliveries before RabbitMQ dead-letters a message (`BGJOBS_DELIVERY_LIMIT`).
    pub delivery_limit: u32,
    /// This worker's name in events (`BGJOBS_WORKER_ID`; default <service>/<host>-<pid>).
    pub worker_id: String,
    /// How transient faults are retried (`BGJOBS_RETRY_ATTEMPTS`, `BGJOBS_RETRY_BASE_MS`,
    /// `BGJOBS_RETRY_MAX_MS`).
    pub retry: RetryPolicy,
    /// How long a job in progress may go on after SIGTERM before its message is
    /// handed back (`BGJOBS_SHUTDOWN_GRACE_SECS`, 0 to 3,600; default 25, below
    /// Kubernetes' 30 s before it kills the pod).
    pub shutdown_grace: Duration,
}

impl Settings {
    /// Reads the process environment for the consumer named `service`.
    pub fn from_env(service: &str) -> Result<Self, String> {
        Self::from_lookup(service, |name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests can pass their own values.
    pub fn from_lookup(
        service: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        Self::from_lookup_with(service, 500, get)
    }

    /// Like [`Settings::from_lookup`], for a consumer whose batches are
    /// `default_batch_size` rows unless `BGJOBS_BATCH_SIZE` says otherwise.
    pub fn from_lookup_with(
        service: &str,
        default_batch_size: u64,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let text = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());
        let number = |name: &str,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>|
         -> Result<u64, String> {
            let Some(raw) = get(name) else { return Ok(default) };
            match raw.trim().parse::<u64>() {
                Ok(value) if range.contains(&value) => Ok(value),
                _ => Err(format!(
                    "{name} '{raw}' is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                )),
            }
        };
        let s3 =
            bgjobs_object_store::Settings::from_lookup(&get).map_err(|error| error.to_string())?;
        let retry = RetryPolicy {
            attempts: number("BGJOBS_RETRY_ATTEMPTS", 5, 0..=u64::from(MAX_RETRY_ATTEMPTS))? as u32,
            base: Duration::from_millis(number("BGJOBS_RETRY_BASE_MS", 1_000, 1..=3_600_000)?),
            max: Duration::from_millis(number("BGJOBS_RETRY_MAX_MS", 60_000, 1..=86_400_000)?),
        };
        if retry.max < retry.base {
            return Err(format!(
                "BGJOBS_RETRY_MAX_MS ({} ms) is below BGJOBS_RETRY_BASE_MS ({} ms); the longest \
                 delay cannot be shorter than the first",
                retry.max.as_millis(),
                retry.base.as_millis()
            ));
        }
        let store =
            bgjobs_database::Settings::from_lookup(&get).map_err(|error| error.to_string())?;
        let host = get("HOSTNAME").unwrap_or_else(|| "local".to_owned());
        Ok(Self {
            database_url: text("BGJOBS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bgjobs"),
            store,
            amqp_url: text("BGJOBS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            nats_url: text("BGJOBS_NATS_URL", "nats://127.0.0.1:4222"),
            prefix: text("BGJOBS_PREFIX", ""),
            s3,
            batch_size: number("BGJOBS_BATCH_SIZE", default_batch_size, 1..=10_000)? as usize,
            progress_interval: Duration::from_millis(number(
                "BGJOBS_PROGRESS_INTERVAL_MS",
                2_000,
                100..=60_000,
            )?),
            heartbeat: Duration::from_secs(number("BGJOBS_HEARTBEAT_SECS", 10, 1..=600)?),
            prefetch: number("BGJOBS_PREFETCH", 1, 1..=100)? as u16,
            delivery_limit: number("BGJOBS_DELIVERY_LIMIT", 5, 1..=100)? as u32,
            worker_id: get("BGJOBS_WORKER_ID")
                .unwrap_or_else(|| format!("{service}/{host}-{}", std::process::id())),
            retry,
            shutdown_grace: Duration::from_secs(number(
                "BGJOBS_SHUTDOWN_GRACE_SECS",
                25,
                0..=3_600,
            )?),
        })
    }
}

impl AsRef<Settings> for Settings {
    fn as_ref(&self) -> &Settings {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings =
            Settings::from_lookup("product-upload", |_| None).expect("defaults are valid");
        assert_eq!(settings.batch_size, 500);
        assert_eq!(settings.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(settings.heartbeat, Duration::from_secs(10));
        assert_eq!(settings.retry, RetryPolicy::default());
        assert!(settings.worker_id.starts_with("product-upload/"));
        assert_eq!(settings.shutdown_grace, Duration::from_secs(25));
    }

    #[test]
    fn a_shutdown_grace_of_zero_hands_jobs_back_at_once_and_above_an_hour_is_refused() {
        let grace = |value: &'static str| {
            Settings::from_lookup("product-upload", move |name| {
                (name == "BGJOBS_SHUTDOWN_GRACE_SECS").then(|| value.to_owned())
            })
            .map(|settings| settings.shutdown_grace)
        };
        assert_eq!(grace("0"), Ok(Duration::ZERO));
        assert_eq!(
            grace("3601"),
            Err("BGJOBS_SHUTDOWN_GRACE_SECS '3601' is not a whole number from 0 to 3600".into())
        );
    }

    #[test]
    fn a_bad_number_is_refused_with_its_range() {
        let error = Settings::from_lookup("product-upload", |name| {
            (name == "BGJOBS_BATCH_SIZE").then(|| "0".to_owned())
        })
        .unwrap_err();
        assert_eq!(error, "BGJOBS_BATCH_SIZE '0' is not a whole number from 1 to 10000");
    }

    #[test]
    fn the_longest_retry_delay_cannot_be_below_the_first() {
        let error = Settings::from_lookup("product-upload", |name| match name {
            "BGJOBS_RETRY_BASE_MS" => Some("5000".to_owned()),
            "BGJOBS_RETRY_MAX_MS" => Some("1000".to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert!(error.starts_with("BGJOBS_RETRY_MAX_MS (1000 ms) is below"), "{error}");
    }
}
