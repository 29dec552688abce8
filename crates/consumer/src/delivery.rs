//! One delivery of a job message as a consumer's job sees it, and how its work ends.

use bgjobs_domain::{AccountId, JobId};
use bgjobs_proto::v1::{Counters, JobMessage};

/// One delivery of a job message whose job and account ids are valid.
#[derive(Debug)]
pub struct Delivery<'a> {
    /// The message as received.
    pub message: &'a JobMessage,
    /// Its job.
    pub job: JobId,
    /// Its account.
    pub account: AccountId,
    /// 1 for the first delivery, +1 for each redelivery.
    pub number: u32,
}

impl Delivery<'_> {
    /// The job attempt this delivery belongs to.
    pub fn attempt(&self) -> u32 {
        self.message.attempt
    }

    /// A boolean job parameter; absent or not a boolean is false.
    pub fn flag(&self, name: &str) -> bool {
        self.parameters().and_then(|parameters| parameters.get(name)?.as_bool()).unwrap_or(false)
    }

    /// A text job parameter, if given.
    pub fn text(&self, name: &str) -> Option<String> {
        self.parameters().and_then(|parameters| parameters.get(name)?.as_str().map(str::to_owned))
    }

    /// The client the job is for: parameters first, then the reference ids.
    pub fn client_id(&self) -> Option<String> {
        let from_references = self.message.reference_ids.as_ref().map(|ids| ids.client_id.clone());
        self.text("client_id").or(from_references).filter(|id| !id.is_empty())
    }

    fn parameters(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.message.parameters_json).ok()
    }
}

/// A job that finished: its message, final counters and results file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// What the user reads, e.g. "998 of 1,000 rows imported, 2 rejected".
    pub message: String,
    /// The final counters.
    pub counters: Counters,
    /// The results file's object key.
    pub result_key: String,
}

/// Why a delivery's work stopped short, sorted by what should happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The job fails with this message, without a results file.
    Fail(String),
    /// The job fails with counters and a complete results file (an all-or-nothing
    /// upload with invalid rows).
    FailWithResults(Finished),
    /// A transient fault: try the delivery again.
    Retry(String),
    /// The delivery's attempt was superseded (a retry or a stall recovery started a
    /// newer one, which has its own message), or another delivery of the same attempt
    /// (a duplicate message) committed past it: stop, report no end, drop the message.
    Superseded(String),
}

impl Stop {
    /// A store error: a superseded attempt stops, transient ones retry, others fail
    /// the job as "`doing`: <error>".
    pub fn store(doing: &str, error: bgjobs_database::Error) -> Self {
        // Overtaken by a duplicate delivery of the same attempt: that one goes on.
        if matches!(
            error,
            bgjobs_database::Error::Superseded { .. }
                | bgjobs_database::Error::Overtaken { .. }
                | bgjobs_database::Error::TakenOver { .. }
        ) {
            Self::Superseded(error.to_string())
        } else if error.is_transient() {
            Self::Retry(error.to_string())
        } else {
            Self::Fail(format!("{doing}: {error}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_proto::v1::ReferenceIds;

    use super::*;

    fn delivery_of(message: &JobMessage) -> Delivery<'_> {
        Delivery {
            message,
            job: JobId::new(),
            account: AccountId::parse("acme").expect("valid account"),
            number: 1,
        }
    }

    #[test]
    fn parameters_are_read_from_the_json_and_the_client_falls_back_to_the_references() {
        let message = JobMessage {
            parameters_json: r#"{"all_or_nothing": true, "write": "update-only"}"#.to_owned(),
            reference_ids: Some(ReferenceIds { client_id: "c1".to_owned(), ..Default::default() }),
            ..Default::default()
        };
        let delivery = delivery_of(&message);
        assert!(delivery.flag("all_or_nothing"));
        assert!(!delivery.flag("dry_run"));
        assert_eq!(delivery.text("write").as_deref(), Some("update-only"));
        assert_eq!(delivery.client_id().as_deref(), Some("c1"));
    }

    #[test]
    fn unreadable_parameters_read_as_absent() {
        let message = JobMessage { parameters_json: "not json".to_owned(), ..Default::default() };
        let delivery = delivery_of(&message);
        assert!(!delivery.flag("all_or_nothing"));
        assert_eq!(delivery.client_id(), None);
    }
}
