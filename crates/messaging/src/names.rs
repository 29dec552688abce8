//! Names of every queue, exchange, stream and subject (docs/architecture.md, "Contracts").
//!
//! Every name starts with a prefix: empty in production, `t<suffix>.` in tests, so
//! that tests running side by side on one broker never see each other's messages.

use bgjobs_domain::{AccountId, JobId, JobType};

/// Names of every queue, exchange, stream and subject, with a prefix ("" in production, "t<suffix>." in tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix`, which is put verbatim in front of every name.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix every name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topic exchange jobs are published to, routed by job type.
    pub fn exchange(&self) -> String {
        format!("{}bgjobs.jobs", self.prefix)
    }

    /// The durable quorum queue of one job type.
    pub fn queue(&self, job_type: JobType) -> String {
        format!("{}bgjobs.{}", self.prefix, job_type.as_str())
    }

    /// The exchange that job queues dead-letter into, routed by job type.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}bgjobs.dlx", self.prefix)
    }

    /// The dead-letter queue of one job type, where operators inspect and replay jobs.
    pub fn dead_letter_queue(&self, job_type: JobType) -> String {
        format!("{}.dlq", self.queue(job_type))
    }

    /// The queue that gets a copy of every dead-lettered job message, whatever its
    /// type, so its job can be moved to Error.
    pub fn dead_letter_watch_queue(&self) -> String {
        format!("{}bgjobs.dead-letters", self.prefix)
    }

    /// The headers exchange of one job type that routes a message of that type, put off
    /// after a transient fault, to the delay queue of its retry level. One per type, so
    /// that a consumer's broker user may publish retries of its own type only.
    pub fn delay_exchange(&self, job_type: JobType) -> String {
        format!("{}.delay", self.queue(job_type))
    }

    /// The delay queue of one job type's retry `level` (0 for a first retry): messages
    /// wait here until they expire, then go to the type's retry exchange.
    pub fn delay_queue(&self, job_type: JobType, level: u32) -> String {
        format!("{}.delay.{level}", self.queue(job_type))
    }

    /// The fanout exchange of one job type that its delay queues dead-letter into,
    /// bound to that type's queue only: a retry returns to the queue it came from,
    /// whatever its routing key says.
    pub fn retry_exchange(&self, job_type: JobType) -> String {
        format!("{}.retry", self.queue(job_type))
    }

    /// The JetStream stream of job events.
    ///
    /// Stream names may not contain '.', '*', '>', spaces or path separators, so the
    /// prefix is upper-cased and every character other than a letter, digit, '-' or
    /// '_' becomes '_' ("t1a2b." gives "T1A2B_BGJOBS_EVENTS").
    pub fn events_stream(&self) -> String {
        let prefix: String = self
            .prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("{prefix}BGJOBS_EVENTS")
    }

    /// The subject of one job's events. Account ids are subject-safe by construction.
    pub fn events_subject(&self, account: &AccountId, job: JobId) -> String {
        format!("{}bgjobs.events.{account}.{job}", self.prefix)
    }

    /// The wildcard that matches every job event under this prefix.
    pub fn events_wildcard(&self) -> String {
        format!("{}bgjobs.events.>", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_have_no_prefix() {
        let names = Names::new("");
        assert_eq!(names.exchange(), "bgjobs.jobs");
        assert_eq!(names.queue(JobType::ProductUpload), "bgjobs.product-upload");
        assert_eq!(names.dead_letter_exchange(), "bgjobs.dlx");
        assert_eq!(names.dead_letter_queue(JobType::DeleteClient), "bgjobs.delete-client.dlq");
        assert_eq!(names.dead_letter_watch_queue(), "bgjobs.dead-letters");
        assert_eq!(names.delay_exchange(JobType::ProductUpload), "bgjobs.product-upload.delay");
        assert_eq!(names.delay_queue(JobType::DeleteClient, 2), "bgjobs.delete-client.delay.2");
        assert_eq!(names.retry_exchange(JobType::WarehouseUpload), "bgjobs.warehouse-upload.retry");
        assert_eq!(names.events_stream(), "BGJOBS_EVENTS");
        assert_eq!(names.events_wildcard(), "bgjobs.events.>");
    }

    #[test]
    fn test_prefixes_are_put_in_front_of_every_name() {
        let names = Names::new("t1a2b.");
        assert_eq!(names.exchange(), "t1a2b.bgjobs.jobs");
        assert_eq!(names.queue(JobType::WarehouseUpload), "t1a2b.bgjobs.warehouse-upload");
        assert_eq!(names.dead_letter_exchange(), "t1a2b.bgjobs.dlx");
        assert_eq!(names.events_wildcard(), "t1a2b.bgjobs.events.>");
    }

    #[test]
    fn stream_names_are_sanitised_because_streams_may_not_contain_dots() {
        assert_eq!(Names::new("t1a2b.").events_stream(), "T1A2B_BGJOBS_EVENTS");
        assert_eq!(Names::new("a b*>/x.").events_stream(), "A_B___X_BGJOBS_EVENTS");
    }

    #[test]
    fn event_subjects_name_the_account_and_the_job() -> Result<(), Box<dyn std::error::Error>> {
        let account = AccountId::parse("acme-eu")?;
        let job: JobId = "0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b".parse()?;
        assert_eq!(
            Names::new("t1.").events_subject(&account, job),
            "t1.bgjobs.events.acme-eu.0190f5a2-7c3e-7d4e-9a1b-2c3d4e5f6a7b"
        );
        Ok(())
    }
}
