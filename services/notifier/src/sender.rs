//! The sender: claims due notifications, sends each email once, and notes in the
//! job's message log what became of it.
//!
//! A claim is a lease: a sender that dies mid-send loses the row when the lease runs
//! out, and another sends it again with the same Message-ID (docs/decisions.md,
//! "Email notifications", says what that window is). Rows are claimed with SKIP
//! LOCKED, so replicas share them; a row that fails temporarily waits its backoff
//! while the others go on.

use std::sync::Arc;
use std::time::Duration;

use bgjobs_database::notifications::{Key, Notification, NotificationsStore, State};
use bgjobs_domain::recipient::mask_email;
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::convert::{from_timestamp, job_type_from_proto};
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_proto::v1::{self, AddJobNoteRequest, GetJobRequest};
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::content::{self, JobFacts};
use crate::mailer::{Mailer, SendError};
use crate::metrics::NotifierMetrics;
use crate::rejected_rows::first_rejected_rows;
use crate::settings::Retries;

/// The actor of the notifier's lines in a job's log.
pub const ACTOR: &str = "notifier";
/// Notifications claimed at once.
const CLAIM_BATCH: u32 = 16;
/// Emails in flight at once.
const CONCURRENCY: usize = 4;
/// How often due rows are looked for when nothing wakes the sender (retries, rows
/// another replica recorded).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Namespace of the notes' ids: the same outcome always gets the same note id.
const NOTE_NAMESPACE: Uuid = Uuid::from_u128(0x6267_6a6f_6273_4e6f_7469_6669_6572_0001);

/// What the sender works with.
#[derive(Clone)]
pub struct Sender {
    /// The record of each email.
    pub store: NotificationsStore,
    /// The registry: the job's details, and its log.
    pub registry: JobsRegistryClient<Channel>,
    /// The results files.
    pub objects: ObjectStore,
    /// SMTP.
    pub mailer: Mailer,
    /// The page emails link to.
    pub page_url: String,
    /// How temporary failures are retried.
    pub retries: Retries,
    /// This sender's name in claims.
    pub claimant: String,
    /// How long a claim holds: longer than one SMTP conversation can take.
    pub lease: Duration,
    /// What it counts.
    pub metrics: NotifierMetrics,
}

/// What became of one try to send.
enum Delivery {
    /// The email's fate is settled: sent, failed for good, or nobody to send it to.
    Finished { state: State, recipient: Option<String>, error: Option<String> },
    /// Try again later; the error says why not now.
    Later(String),
}

impl Sender {
    /// Claims and handles due notifications until `shutdown`; the ones in hand are
    /// finished first. `recorded` wakes it when a new notification is recorded.
    pub async fn run(
        self,
        recorded: Arc<Notify>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        loop {
            let claimed = match self.store.claim_due(&self.claimant, self.lease, CLAIM_BATCH).await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming due notifications failed");
                    Vec::new()
                }
            };
            let full = claimed.len() == CLAIM_BATCH as usize;
            futures::stream::iter(claimed)
                .for_each_concurrent(CONCURRENCY, |notification| self.handle(notification))
                .await;
            if full {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = recorded.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Sends a pending notification (or takes what a finished one says), then notes it
    /// in the job's log.
    async fn handle(&self, notification: Notification) {
        let key = notification.key;
        let (state, recipient, error) = if notification.state == State::Pending {
            match self.deliver(&notification).await {
                Delivery::Finished { state, recipient, error } => {
                    match self
                        .store
                        .finish(key, state, recipient.as_deref(), error.as_deref())
                        .await
                    {
                        Ok(true) => self.metrics.settled(state),
                        // Another sender, whose claim followed our lapsed lease, ended it
                        // first and notes its own outcome.
                        Ok(false) => return,
                        Err(failure) => {
                            // Still pending: it is sent again when the lease runs out.
                            tracing::error!(%failure, job_id = %key.job_id, "recording a sent email failed");
                            return;
                        }
                    }
                    (state, recipient, error)
                }
                Delivery::Later(error) => {
                    let delay = self.retries.delay(notification.tries);
                    tracing::warn!(job_id = %key.job_id, error, ?delay, "email not sent yet; retrying");
                    self.metrics.retried();
                    self.try_later(key, delay, &error).await;
                    return;
                }
            }
        } else {
            (notification.state, notification.recipient.clone(), notification.last_error.clone())
        };
        self.note(&notification, state, recipient.as_deref(), error.as_deref()).await;
    }

    async fn deliver(&self, notification: &Notification) -> Delivery {
        let key = notification.key;
        let request = GetJobRequest {
            account_id: notification.account_id.to_string(),
            job_id: key.job_id.to_string(),
        };
        let job = match self.registry.clone().get_job(request).await {
            Ok(answer) => answer.into_inner().job.unwrap_or_default(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                return Delivery::Finished {
                    state: State::Skipped,
                    recipient: None,
                    error: Some("the job no longer exists".to_owned()),
                };
            }
            Err(status) => {
                return Delivery::Later(format!(
                    "the registry did not answer: {}",
                    status.message()
                ));
            }
        };
        let Some(recipient) = job
            .notify
            .as_ref()
            .map(|notify| notify.email.clone())
            .filter(|email| !email.is_empty())
        else {
            return Delivery::Finished { state: State::Skipped, recipient: None, error: None };
        };
        let rejected = if notification.counters.is_some_and(|counters| counters.rows_rejected > 0) {
            match first_rejected_rows(&self.objects, &notification.account_id, key.job_id).await {
                Ok(rows) => rows,
                Err(error) => {
                    return self.later_or_give_up(notification, recipient, format!("{error}"));
                }
            }
        } else {
            Vec::new()
        };
        let facts = facts(&job);
        let email = match content::compose(
            notification,
            &facts,
            &rejected,
            &recipient,
            &self.page_url,
            self.mailer.domain(),
        ) {
            Ok(email) => email,
            Err(error) => {
                return Delivery::Finished {
                    state: State::Failed,
                    recipient: Some(recipient),
                    error: Some(format!("the email could not be written: {error}")),
                };
            }
        };
        match self.mailer.send(&email).await {
            Ok(()) => {
                tracing::info!(job_id = %key.job_id, attempt = key.attempt, "email sent");
                Delivery::Finished { state: State::Sent, recipient: Some(recipient), error: None }
            }
            Err(SendError::Permanent(error)) => {
                tracing::warn!(job_id = %key.job_id, error, "email refused for good");
                Delivery::Finished {
                    state: State::Failed,
                    recipient: Some(recipient),
                    error: Some(error),
                }
            }
            Err(SendError::Temporary(error)) => {
                self.later_or_give_up(notification, recipient, error)
            }
        }
    }

    /// A temporary failure: try later, or fail for good once the deadline has passed.
    fn later_or_give_up(
        &self,
        notification: &Notification,
        recipient: String,
        error: String,
    ) -> Delivery {
        if Utc::now() < notification.give_up_at {
            return Delivery::Later(error);
        }
        let hours = self.retries.give_up_after.as_secs_f64() / 3600.0;
        Delivery::Finished {
            state: State::Failed,
            recipient: Some(recipient),
            error: Some(format!("gave up after trying for {hours:.1} h: {error}")),
        }
    }

    /// Adds the line saying what became of the email to the job's log, once (the
    /// note's id is derived from the outcome).
    async fn note(
        &self,
        notification: &Notification,
        state: State,
        recipient: Option<&str>,
        error: Option<&str>,
    ) {
        let key = notification.key;
        let Some(message) = note_text(state, recipient, error) else {
            self.noted(key).await;
            return;
        };
        let request = AddJobNoteRequest {
            account_id: notification.account_id.to_string(),
            job_id: key.job_id.to_string(),
            note_id: note_id(key).to_string(),
            attempt: key.attempt,
            actor: ACTOR.to_owned(),
            message,
            only_while_new: false,
        };
        match self.registry.clone().add_job_note(request).await {
            Ok(_) => self.noted(key).await,
            Err(status) if status.code() == tonic::Code::NotFound => self.noted(key).await,
            Err(status) => {
                let error =
                    format!("noting the email in the job's log failed: {}", status.message());
                tracing::warn!(job_id = %key.job_id, error, "retrying the note");
                self.try_later(key, self.retries.first, &error).await;
            }
        }
    }

    async fn noted(&self, key: Key) {
        if let Err(error) = self.store.noted(key).await {
            // The note is added again (once, by its id) when the lease runs out.
            tracing::warn!(%error, job_id = %key.job_id, "recording the note failed");
        }
    }

    async fn try_later(&self, key: Key, delay: Duration, error: &str) {
        if let Err(failure) = self.store.try_later(key, delay, error).await {
            tracing::warn!(%failure, job_id = %key.job_id, "releasing a notification failed; its lease will");
        }
    }
}

/// The log line for an email's fate: `None` when nothing is worth a line (a job
/// that no longer exists).
fn note_text(state: State, recipient: Option<&str>, error: Option<&str>) -> Option<String> {
    let masked = recipient.map(mask_email);
    match (state, masked) {
        (State::Sent, Some(to)) => Some(format!("email sent to {to}")),
        (State::Failed, Some(to)) => Some(format!(
            "email to {to} could not be delivered: {}",
            error.unwrap_or("no reason given")
        )),
        (State::Skipped, _) if error.is_none() => {
            Some("no email sent: nobody is to be emailed about this job".to_owned())
        }
        _ => None,
    }
}

/// The id of the note about `key`: the same outcome always gets the same one.
fn note_id(key: Key) -> Uuid {
    let name = format!("{}:{}:{}", key.job_id, key.attempt, key.outcome.as_str());
    Uuid::new_v5(&NOTE_NAMESPACE, name.as_bytes())
}

/// What the email shows of the job.
fn facts(job: &v1::Job) -> JobFacts {
    let non_empty = |text: &str| Some(text.to_owned()).filter(|text| !text.is_empty());
    let references = job.reference_ids.clone().unwrap_or_default();
    JobFacts {
        job_type: job_type_from_proto(job.job_type)
            .unwrap_or(bgjobs_domain::JobType::ProductUpload),
        file_name: non_empty(&job.original_file_name),
        client_id: non_empty(&references.client_id),
        warehouse_id: non_empty(&references.warehouse_id),
        created_at: job.created_at.as_ref().and_then(from_timestamp).unwrap_or_else(Utc::now),
        time_zone: job.notify.as_ref().and_then(|notify| non_empty(&notify.time_zone)),
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_database::notifications::Outcome;
    use bgjobs_domain::JobId;

    use super::*;

    #[test]
    fn notes_mask_the_address_and_say_why_an_email_failed() {
        assert_eq!(
            note_text(State::Sent, Some("vera@example.com"), None).as_deref(),
            Some("email sent to v***@example.com")
        );
        assert_eq!(
            note_text(State::Failed, Some("vera@example.com"), Some("550 mailbox unavailable"))
                .as_deref(),
            Some("email to v***@example.com could not be delivered: 550 mailbox unavailable")
        );
        assert!(note_text(State::Skipped, None, None).is_some());
        assert_eq!(note_text(State::Skipped, None, Some("the job no longer exists")), None);
    }

    #[test]
    fn each_outcome_has_its_own_stable_note_id() {
        let job_id = JobId::new();
        let completed = Key { job_id, attempt: 1, outcome: Outcome::Completed };
        assert_eq!(note_id(completed), note_id(completed));
        assert_ne!(note_id(completed), note_id(Key { attempt: 2, ..completed }));
        assert_ne!(note_id(completed), note_id(Key { outcome: Outcome::Failed, ..completed }));
    }
}
