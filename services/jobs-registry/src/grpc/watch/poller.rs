//! The one poller of a registry process: while any watch is open, it asks the database
//! every 500 ms what changed in the watched accounts (one query, however many watches)
//! and publishes each change once to the feed. Polling rather than LISTEN/NOTIFY sees a
//! change whichever replica (or the recovery sweep) made it; see `docs/architecture.md`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bgjobs_database::JobsStore;
use bgjobs_database::jobs::Job;
use bgjobs_domain::{AccountId, JobId};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::feed::Feed;
use crate::error::Error;

/// How often the database is asked what changed.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// `updated_at` is taken inside the writing transaction, a little before it commits:
/// every poll looks back this far so that a change committed just after the previous
/// poll passed its timestamp is still seen (and published once, see `Window::sent`).
pub const LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// A batch this large means more may be waiting: ask again at once.
const FULL_BATCH: usize = 500;

/// Polls for the watches of one feed.
#[derive(Debug)]
pub struct Poller {
    store: JobsStore,
    feed: Arc<Feed>,
}

impl Poller {
    /// A poller reading `store` and publishing to `feed`.
    pub fn new(store: JobsStore, feed: Arc<Feed>) -> Self {
        Self { store, feed }
    }

    /// Polls while watches are open and idles while none is, until `stop` is
    /// cancelled. A failed poll ends every open watch with the error (as each watch's
    /// own poll did): the page says so, reconnects and reloads what it shows.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = self.feed.watch_opened() => {}
                () = stop.cancelled() => return,
            }
            if let Err(error) = self.poll_while_watched(&stop).await {
                tracing::warn!(error = %error, "polling job changes failed; open watches end");
                self.feed.end_all(&Status::from(error));
            }
        }
    }

    /// Polls until no watch is open or `stop` is cancelled.
    async fn poll_while_watched(&self, stop: &CancellationToken) -> Result<(), Error> {
        let mut window = Window::default();
        loop {
            let accounts = self.feed.watched_accounts();
            if accounts.is_empty() {
                return Ok(());
            }
            if window.is_new_to(&accounts) {
                // A newly watched account is looked at from its watch's opening on
                // (less the look-back), not from when the poller last read the clock.
                window.advance_to(self.store.database_now().await?);
            }
            let changes = window.poll(&self.store, &accounts).await?;
            self.feed.publish(changes);
            self.feed.forget_until(window.start());
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = stop.cancelled() => return Ok(()),
            }
        }
    }
}

/// What the polls have seen so far.
#[derive(Debug, Default)]
struct Window {
    /// The latest `updated_at` seen, or the database's time when an account was added.
    horizon: Option<DateTime<Utc>>,
    /// The accounts of the last poll.
    accounts: HashSet<AccountId>,
    /// What was published of each job changed within the look-back window.
    sent: HashMap<JobId, DateTime<Utc>>,
}

impl Window {
    /// Whether `accounts` holds one the last poll did not.
    fn is_new_to(&self, accounts: &[AccountId]) -> bool {
        accounts.iter().any(|account| !self.accounts.contains(account))
    }

    fn advance_to(&mut self, now: DateTime<Utc>) {
        self.horizon = Some(self.horizon.map_or(now, |horizon| horizon.max(now)));
    }

    /// Where the next poll starts: the look-back before the horizon.
    fn start(&self) -> DateTime<Utc> {
        self.horizon.unwrap_or(DateTime::<Utc>::MIN_UTC) - LOOKBACK
    }

    /// Every change of `accounts` in the window not already published, oldest first.
    async fn poll(&mut self, store: &JobsStore, accounts: &[AccountId]) -> Result<Vec<Job>, Error> {
        self.accounts = accounts.iter().cloned().collect();
        let mut after = self.start();
        let mut changes = Vec::new();
        loop {
            let batch = store.jobs_changed_after(accounts, after).await?;
            let full = batch.len() >= FULL_BATCH;
            for job in batch {
                after = after.max(job.updated_at);
                if self.sent.get(&job.job_id) != Some(&job.updated_at) {
                    self.sent.insert(job.job_id, job.updated_at);
                    changes.push(job);
                }
            }
            if !full {
                break;
            }
        }
        self.advance_to(after);
        // Older entries can no longer come back from a query of the window.
        let oldest_needed = self.start();
        self.sent.retain(|_, updated_at| *updated_at > oldest_needed);
        Ok(changes)
    }
}
