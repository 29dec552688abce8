//! The notifier's configuration: its mail settings, how it retries, and the shared
//! sections (database, events, registry, object store).

use std::time::Duration;

use bgjobs_config::sections::{Database, Events, Naming, Registry, Shutdown};
use bgjobs_config::values::{HttpUrl, Name, Seconds, SmtpUrl};
use bgjobs_config::{Environment, Error, Load, ProfileSection};

bgjobs_config::section! {
    /// The SMTP server, the sender and the page that emails link to.
    pub struct Mail {
        /// The SMTP server: `smtps://USER:PASSWORD@HOST:465` (TLS from the start),
        /// `smtp://USER:PASSWORD@HOST:587?tls=required` (STARTTLS), or `smtp://HOST:PORT`
        /// without TLS, for a server on this machine only (the local stack's).
        "BGJOBS_SMTP_URL" => smtp_url: SmtpUrl = "smtp://127.0.0.1:2525";
        /// Seconds one SMTP conversation may take before it counts as a temporary failure.
        "BGJOBS_SMTP_TIMEOUT_SECS" => timeout: Seconds<1, 300> = "30";
        /// The sender of notification emails, as `Name <address>` or an address.
        "BGJOBS_MAIL_FROM" => from: String = "Background Jobs <bgjobs@localhost>";
        /// The Background Jobs page that emails link to (`<it>/?job=<id>`).
        "BGJOBS_PAGE_URL" => page_url: HttpUrl = "http://127.0.0.1:8080";
    }
}

bgjobs_config::section! {
    /// What only the notifier reads besides its mail settings.
    pub struct Notifier {
        /// Name of the durable JetStream consumer the notifier reads events from;
        /// replicas sharing it share the work.
        "BGJOBS_NOTIFIER_CONSUMER" => consumer: Name = "notifier";
        /// Seconds an email that fails temporarily (server down, 4xx) is retried
        /// before it is recorded as undeliverable.
        "BGJOBS_MAIL_GIVE_UP_SECS" => give_up_after: Seconds<1, 604800> = "86400";
        /// Seconds before the first retry of an email that failed temporarily; each
        /// further retry waits twice as long, up to BGJOBS_MAIL_RETRY_MAX_SECS.
        "BGJOBS_MAIL_RETRY_FIRST_SECS" => retry_first: Seconds<1, 3600> = "5";
        /// The longest wait between two tries of one email.
        "BGJOBS_MAIL_RETRY_MAX_SECS" => retry_max: Seconds<1, 86400> = "300";
    }
}

bgjobs_config::compose! {
    /// Every section the notifier reads, as loaded.
    pub struct Settings {
        /// SMTP, sender, page.
        mail: Mail,
        /// The notifier's own.
        notifier: Notifier,
        /// Postgres: the record of each email.
        database: Database,
        /// NATS with JetStream: the job events.
        events: Events,
        /// Broker name prefix.
        naming: Naming,
        /// The registry: the job's details and its message log.
        registry: Registry,
        /// Mutual TLS with the registry.
        tls: bgjobs_identity::Tls,
        /// The results files, for the rejected rows an email lists.
        objects: bgjobs_object_store::Settings,
        /// After SIGTERM.
        shutdown: Shutdown,
        /// Probes and metrics.
        ops: bgjobs_service::ops::OpsSettings,
        /// The probes' and metrics' server bounds.
        server_limits: bgjobs_service::ServerLimits,
        /// Logs and traces.
        telemetry: bgjobs_telemetry::Settings,
        /// The profile.
        profile: ProfileSection,
    }
}

/// How an email that failed temporarily is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// The wait before the first retry.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How long after the job ended a temporary failure becomes final.
    pub give_up_after: Duration,
}

impl Retries {
    /// The wait after the `tries`-th failed try: `first`, doubled per try, at most `max`.
    pub fn delay(&self, tries: u32) -> Duration {
        let doublings = tries.saturating_sub(1).min(20);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

impl Settings {
    /// Reads the settings from `environment`, checking the rules between variables.
    pub fn from_environment(environment: &Environment<'_>) -> Result<Self, Error> {
        let settings = Self::load(environment)?;
        let notifier = &settings.notifier;
        if notifier.retry_max.get() < notifier.retry_first.get() {
            return Err(Error::Rule {
                variable: "BGJOBS_MAIL_RETRY_MAX_SECS",
                problem: format!(
                    "{} s is below BGJOBS_MAIL_RETRY_FIRST_SECS ({} s)",
                    notifier.retry_max.get().as_secs(),
                    notifier.retry_first.get().as_secs()
                ),
            });
        }
        Ok(settings)
    }

    /// How failed emails are retried.
    pub fn retries(&self) -> Retries {
        Retries {
            first: self.notifier.retry_first.get(),
            max: self.notifier.retry_max.get(),
            give_up_after: self.notifier.give_up_after.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&'static str, &'static str)]) -> Result<Settings, Error> {
        Settings::from_environment(&Environment::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn an_empty_environment_points_at_the_local_stack() {
        let read = settings(&[]).expect("defaults are valid");
        assert_eq!(read.mail.smtp_url.expose(), "smtp://127.0.0.1:2525");
        assert_eq!(read.mail.page_url.as_str(), "http://127.0.0.1:8080");
        assert_eq!(&*read.notifier.consumer, "notifier");
        let retries = read.retries();
        assert_eq!(
            (retries.first, retries.max, retries.give_up_after),
            (Duration::from_secs(5), Duration::from_secs(300), Duration::from_secs(86400))
        );
    }

    #[test]
    fn retries_double_up_to_the_longest_wait() {
        let retries = Retries {
            first: Duration::from_secs(5),
            max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        };
        let waits: Vec<u64> = (1..=6).map(|tries| retries.delay(tries).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(retries.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn bad_values_and_rules_name_the_variable() {
        let error = settings(&[("BGJOBS_SMTP_URL", "http://mail")]).expect_err("not SMTP");
        assert_eq!(error.variable(), "BGJOBS_SMTP_URL");
        let error = settings(&[
            ("BGJOBS_MAIL_RETRY_FIRST_SECS", "60"),
            ("BGJOBS_MAIL_RETRY_MAX_SECS", "10"),
        ])
        .expect_err("max below first");
        assert_eq!(
            error.to_string(),
            "BGJOBS_MAIL_RETRY_MAX_SECS: 10 s is below BGJOBS_MAIL_RETRY_FIRST_SECS (60 s)"
        );
    }

    #[test]
    fn the_smtp_password_is_never_printed() {
        let read = settings(&[("BGJOBS_SMTP_URL", "smtps://bgjobs:hunter2@mail.example.com:465")])
            .expect("valid");
        let printed = format!("{read:?}\n{}", bgjobs_config::effective_values(&read));
        assert!(!printed.contains("hunter2"), "{printed}");
    }
}
