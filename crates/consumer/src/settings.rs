//! The configuration every consumer shares; a consumer with more settings
//! (delete-client) keeps these inside its own.

use std::net::SocketAddr;
use std::time::Duration;

use bgjobs_config::sections::{Broker, Database, Delivery, Events, Naming, Shutdown};
use bgjobs_config::values::{AmqpUrl, Count, Millis, NatsUrl, PostgresUrl, Prefix, Seconds};
use bgjobs_config::{Environment, Error, Load, ProfileSection};

use crate::backoff::RetryPolicy;

bgjobs_config::section! {
    /// How a consumer works through its queue.
    pub struct Work {
        /// Rows per committed batch. Unset: 2000 for the upload consumers (valid rows
        /// written per batch), 1000 for delete-client (rows deleted per batch, small
        /// enough that a batch holds its row locks only briefly).
        "BGJOBS_BATCH_SIZE" => batch_size: Option<Count<1, 10000>>;
        /// Least time between two Progress events of one job.
        "BGJOBS_PROGRESS_INTERVAL_MS" => progress_interval: Millis<100, 60000> = "2000";
        /// Longest silence of a running delivery before it emits a heartbeat Progress
        /// event; keep it well under the registry's BGJOBS_STALL_THRESHOLD_SECS.
        "BGJOBS_HEARTBEAT_SECS" => heartbeat: Seconds<1, 600> = "10";
        /// Longest time a running delivery may go without progress of its own (a
        /// committed batch's Progress event, a log line) before its heartbeats stop, with
        /// a warning that it looks stuck, so that the registry's stall detection
        /// recovers the job. Above the longest a batch's statement or an S3 request may
        /// take (BGJOBS_DB_STATEMENT_TIMEOUT_SECS, BGJOBS_S3_REQUEST_TIMEOUT_SECS), and
        /// above BGJOBS_HEARTBEAT_SECS.
        "BGJOBS_STUCK_AFTER_SECS" => stuck_after: Seconds<2, 86400> = "120";
        /// Jobs one consumer process runs at once. Unset: 4 for the upload consumers (a
        /// small job spends most of its time waiting on Postgres, S3 and NATS, and each
        /// running job holds at most one batch in memory), 1 for delete-client (one
        /// deletion already keeps a Postgres core busy).
        "BGJOBS_CONCURRENCY" => concurrency: Option<Count<1, 64>>;
        /// Job messages a consumer holds unacknowledged at once, its running jobs
        /// included; at least BGJOBS_CONCURRENCY. Unset: BGJOBS_CONCURRENCY, so that
        /// waiting jobs stay in the queue for other replicas to take.
        "BGJOBS_PREFETCH" => prefetch: Option<Count<1, 100>>;
        /// This worker's name in events and logs. Unset: `<consumer>/<HOSTNAME>-<pid>`.
        "BGJOBS_WORKER_ID" => worker_id: Option<String>;
        /// Delayed retries of a transient fault before the message is dead-lettered.
        "BGJOBS_RETRY_ATTEMPTS" => retry_attempts: Count<0, 10> = "5";
        /// Delay of the first retry; each next one doubles.
        "BGJOBS_RETRY_BASE_MS" => retry_base: Millis<1, 3600000> = "1000";
        /// Longest retry delay before ±20% jitter; at least BGJOBS_RETRY_BASE_MS.
        "BGJOBS_RETRY_MAX_MS" => retry_max: Millis<1, 86400000> = "60000";
        /// How long a job event is tried again while NATS does not acknowledge it (an
        /// outage) before the delivery stops with a transient fault. At most 20 minutes,
        /// so that every try falls in the events stream's de-duplication window.
        "BGJOBS_EVENT_GIVE_UP_SECS" => event_give_up: Seconds<5, 1200> = "300";
    }
}

bgjobs_config::compose! {
    /// Every section a consumer reads, as loaded.
    pub struct Sections {
        /// Postgres, with the catalogue.
        database: Database,
        /// RabbitMQ.
        broker: Broker,
        /// Deliveries before dead-lettering.
        delivery: Delivery,
        /// NATS with JetStream.
        events: Events,
        /// Broker name prefix.
        naming: Naming,
        /// Job files.
        object_store: bgjobs_object_store::Settings,
        /// Batches, progress, retries.
        work: Work,
        /// After SIGTERM.
        shutdown: Shutdown,
        /// Probes and metrics.
        ops: bgjobs_service::ops::OpsSettings,
        /// Logs and traces.
        telemetry: bgjobs_telemetry::Settings,
        /// The profile.
        profile: ProfileSection,
    }
}

/// Everything the consumer runtime needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Postgres with the catalog schema.
    pub database_url: PostgresUrl,
    /// How the database connections behave.
    pub store: bgjobs_database::Settings,
    /// RabbitMQ.
    pub amqp_url: AmqpUrl,
    /// NATS with JetStream.
    pub nats_url: NatsUrl,
    /// Copies of the job event stream.
    pub events_replicas: usize,
    /// Prefix of every queue, exchange, stream and subject.
    pub prefix: Prefix,
    /// Object storage.
    pub s3: bgjobs_object_store::Settings,
    /// Rows per committed batch.
    pub batch_size: usize,
    /// Least time between Progress events.
    pub progress_interval: Duration,
    /// Longest silence of a running delivery before a heartbeat Progress event.
    pub heartbeat: Duration,
    /// Longest time without progress of its own before a delivery's heartbeats stop.
    pub stuck_after: Duration,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Messages taken from the queue at once.
    pub prefetch: u16,
    /// Deliveries before RabbitMQ dead-letters a message.
    pub delivery_limit: u32,
    /// This worker's name in events.
    pub worker_id: String,
    /// How transient faults are retried.
    pub retry: RetryPolicy,
    /// How long a job event is tried again while NATS does not acknowledge it.
    pub event_give_up: Duration,
    /// How long a job in progress may go on after SIGTERM before its message is
    /// handed back.
    pub shutdown_grace: Duration,
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None`: not served.
    pub ops_addr: Option<SocketAddr>,
    sections: Sections,
}

/// What a consumer does unless its settings say otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    /// Rows per committed batch (`BGJOBS_BATCH_SIZE`).
    pub batch_size: usize,
    /// Jobs run at once (`BGJOBS_CONCURRENCY`).
    pub concurrency: usize,
}

impl Settings {
    /// Reads the settings of the consumer named `service` from `environment`, with
    /// `defaults` for what it leaves unset.
    pub fn load(
        environment: &Environment<'_>,
        service: &str,
        defaults: Defaults,
    ) -> Result<Self, Error> {
        let sections = Sections::load(environment)?;
        let work = &sections.work;
        let concurrency =
            work.concurrency.map_or(defaults.concurrency, |count| count.get() as usize);
        let prefetch = work.prefetch.map_or(concurrency, |count| count.get() as usize);
        if prefetch < concurrency {
            return Err(Error::Rule {
                variable: "BGJOBS_PREFETCH",
                problem: format!(
                    "{prefetch} is below BGJOBS_CONCURRENCY ({concurrency}); a consumer needs a \
                     message for every job it runs"
                ),
            });
        }
        let retry = RetryPolicy {
            attempts: work.retry_attempts.get() as u32,
            base: work.retry_base.get(),
            max: work.retry_max.get(),
        };
        if retry.max < retry.base {
            return Err(Error::Rule {
                variable: "BGJOBS_RETRY_MAX_MS",
                problem: format!(
                    "{} ms is below BGJOBS_RETRY_BASE_MS ({} ms); the longest delay cannot be \
                     shorter than the first",
                    retry.max.as_millis(),
                    retry.base.as_millis()
                ),
            });
        }
        if work.stuck_after.get() <= work.heartbeat.get() {
            return Err(Error::Rule {
                variable: "BGJOBS_STUCK_AFTER_SECS",
                problem: format!(
                    "{} s is not above BGJOBS_HEARTBEAT_SECS ({} s); a delivery would never \
                     send a heartbeat",
                    work.stuck_after.get().as_secs(),
                    work.heartbeat.get().as_secs()
                ),
            });
        }
        let host = environment.get("HOSTNAME").unwrap_or_else(|| "local".to_owned());
        Ok(Self {
            database_url: sections.database.url.clone(),
            store: bgjobs_database::Settings::from(&sections.database),
            amqp_url: sections.broker.url.clone(),
            nats_url: sections.events.url.clone(),
            events_replicas: sections.events.replicas.get() as usize,
            prefix: sections.naming.prefix.clone(),
            s3: sections.object_store.clone(),
            batch_size: work.batch_size.map_or(defaults.batch_size, |size| size.get() as usize),
            progress_interval: work.progress_interval.get(),
            heartbeat: work.heartbeat.get(),
            stuck_after: work.stuck_after.get(),
            concurrency,
            prefetch: u16::try_from(prefetch).unwrap_or(u16::MAX),
            delivery_limit: sections.delivery.limit.get() as u32,
            worker_id: work
                .worker_id
                .clone()
                .unwrap_or_else(|| format!("{service}/{host}-{}", std::process::id())),
            retry,
            event_give_up: work.event_give_up.get(),
            shutdown_grace: sections.shutdown.grace.get(),
            ops_addr: sections.ops.addr,
            sections,
        })
    }
}

bgjobs_config::resolved_from!(Settings, sections: Sections);

impl AsRef<Settings> for Settings {
    fn as_ref(&self) -> &Settings {
        self
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_messaging::events::PublishRetry;

    use super::*;

    const DEFAULTS: Defaults = Defaults { batch_size: 500, concurrency: 4 };

    fn load(pairs: &[(&'static str, &'static str)]) -> Result<Settings, String> {
        Settings::load(&Environment::from_pairs(pairs.iter().copied()), "product-upload", DEFAULTS)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.batch_size, 500);
        assert_eq!((settings.concurrency, settings.prefetch), (4, 4));
        assert_eq!(settings.nats_url.expose(), "nats://127.0.0.1:4222");
        assert_eq!(settings.heartbeat, Duration::from_secs(10));
        assert_eq!(settings.stuck_after, crate::DEFAULT_STUCK_AFTER);
        assert_eq!(settings.retry, RetryPolicy::default());
        assert!(settings.worker_id.starts_with("product-upload/"));
        assert_eq!(settings.shutdown_grace, Duration::from_secs(25));
        assert_eq!(settings.event_give_up, PublishRetry::default().give_up);
    }

    #[test]
    fn events_are_tried_again_at_most_as_long_as_the_publisher_allows() {
        let most = bgjobs_messaging::events::MAX_GIVE_UP.as_secs();
        let give_up = |seconds: u64| {
            let environment =
                Environment::from_pairs([("BGJOBS_EVENT_GIVE_UP_SECS", seconds.to_string())]);
            Settings::load(&environment, "product-upload", DEFAULTS)
                .map(|loaded| loaded.event_give_up)
        };
        assert_eq!(give_up(most).ok(), Some(Duration::from_secs(most)));
        assert!(give_up(most + 1).is_err());
    }

    #[test]
    fn a_shutdown_grace_of_zero_hands_jobs_back_at_once_and_above_an_hour_is_refused() {
        let grace =
            |value| load(&[("BGJOBS_SHUTDOWN_GRACE_SECS", value)]).map(|s| s.shutdown_grace);
        assert_eq!(grace("0"), Ok(Duration::ZERO));
        assert_eq!(
            grace("3601"),
            Err("BGJOBS_SHUTDOWN_GRACE_SECS='3601' is not allowed: expected a whole number of \
                 seconds from 0 to 3600"
                .into())
        );
    }

    #[test]
    fn a_bad_number_is_refused_with_its_range() {
        assert_eq!(
            load(&[("BGJOBS_BATCH_SIZE", "0")]).unwrap_err(),
            "BGJOBS_BATCH_SIZE='0' is not allowed: expected a whole number from 1 to 10000"
        );
    }

    #[test]
    fn the_prefetch_follows_the_concurrency_and_cannot_be_below_it() {
        let jobs = |pairs| load(pairs).map(|loaded| (loaded.concurrency, loaded.prefetch));
        assert_eq!(jobs(&[("BGJOBS_CONCURRENCY", "8")]), Ok((8, 8)));
        assert_eq!(jobs(&[("BGJOBS_CONCURRENCY", "2"), ("BGJOBS_PREFETCH", "5")]), Ok((2, 5)));
        assert_eq!(
            jobs(&[("BGJOBS_CONCURRENCY", "8"), ("BGJOBS_PREFETCH", "2")]),
            Err("BGJOBS_PREFETCH: 2 is below BGJOBS_CONCURRENCY (8); a consumer needs a \
                 message for every job it runs"
                .into())
        );
        assert_eq!(
            jobs(&[("BGJOBS_CONCURRENCY", "0")]),
            Err("BGJOBS_CONCURRENCY='0' is not allowed: expected a whole number from 1 to 64"
                .into())
        );
    }

    #[test]
    fn the_longest_retry_delay_cannot_be_below_the_first() {
        let error =
            load(&[("BGJOBS_RETRY_BASE_MS", "5000"), ("BGJOBS_RETRY_MAX_MS", "1000")]).unwrap_err();
        assert!(error.starts_with("BGJOBS_RETRY_MAX_MS: 1000 ms is below"), "{error}");
    }

    #[test]
    fn the_retry_attempts_match_the_delay_queues_declared() {
        let most = format!("{}", crate::backoff::MAX_RETRY_ATTEMPTS);
        let environment = Environment::from_pairs([("BGJOBS_RETRY_ATTEMPTS", most)]);
        assert!(Settings::load(&environment, "product-upload", DEFAULTS).is_ok());
        let over = format!("{}", crate::backoff::MAX_RETRY_ATTEMPTS + 1);
        let environment = Environment::from_pairs([("BGJOBS_RETRY_ATTEMPTS", over)]);
        assert!(Settings::load(&environment, "product-upload", DEFAULTS).is_err());
    }

    #[test]
    fn the_stuck_bound_must_be_above_the_heartbeat_interval() {
        let error = load(&[("BGJOBS_HEARTBEAT_SECS", "30"), ("BGJOBS_STUCK_AFTER_SECS", "30")])
            .unwrap_err();
        assert!(error.starts_with("BGJOBS_STUCK_AFTER_SECS: 30 s is not above"), "{error}");
        let settings = load(&[("BGJOBS_HEARTBEAT_SECS", "1"), ("BGJOBS_STUCK_AFTER_SECS", "3")])
            .expect("valid");
        assert_eq!(settings.stuck_after, Duration::from_secs(3));
    }

    #[test]
    fn a_worker_id_that_is_set_is_used_as_is() {
        let settings = load(&[("BGJOBS_WORKER_ID", "pod-7")]).expect("valid");
        assert_eq!(settings.worker_id, "pod-7");
    }
}
