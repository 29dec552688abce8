//! What the notifier counts, served at `/metrics` (see `docs/operations.md`,
//! "Metrics"). Labels are bounded: what became of an email, never a job or address.

use bgjobs_database::notifications::State;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EmailLabels {
    outcome: &'static str,
}

/// The notifier's metrics, registered in its registry; cheap to clone.
#[derive(Clone, Debug)]
pub struct NotifierMetrics {
    emails: Family<EmailLabels, Counter>,
    retries: Counter,
}

impl NotifierMetrics {
    /// The notifier's metrics, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let emails = Family::default();
        registry.register(
            "bgjobs_notifier_emails",
            "Emails about finished jobs whose fate is settled, by outcome: sent (the mail \
             server accepted it), failed (refused for good, or retried until the deadline) \
             or skipped (nobody to email)",
            emails.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "bgjobs_notifier_email_retries",
            "Tries to send an email that failed temporarily (mail server or registry \
             unreachable, a 4xx answer) and were put off",
            retries.clone(),
        );
        Self { emails, retries }
    }

    /// Counts an email settled as `state` (by this replica).
    pub(crate) fn settled(&self, state: State) {
        let outcome = match state {
            State::Sent => "sent",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Pending => return,
        };
        self.emails.get_or_create(&EmailLabels { outcome }).inc();
    }

    /// Counts a try put off.
    pub(crate) fn retried(&self) {
        self.retries.inc();
    }
}
