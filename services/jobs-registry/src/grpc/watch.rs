//! `WatchJobs`: an account's job changes, found by polling the database, so that a
//! change is seen whichever registry replica (or the recovery sweep) made it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bgjobs_database::JobsStore;
use bgjobs_database::jobs::Job;
use bgjobs_domain::{AccountId, JobId};
use bgjobs_proto::v1::WatchJobsResponse;
use chrono::{DateTime, Utc};
use futures::Stream;
use tonic::Status;

use super::encode;
use crate::error::Error;

/// How often the database is asked what changed.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// `updated_at` is taken inside the writing transaction, a little before it commits:
/// every poll looks back this far so that a change committed just after the previous
/// poll passed its timestamp is still seen (and sent once, see `Watcher::sent`).
const LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// A batch this large means more may be waiting: ask again at once.
const FULL_BATCH: usize = 500;

/// The changes of `account` from now on, one message per change, until the caller
/// goes away or the database fails (the stream then ends with the error).
pub fn watch(
    store: JobsStore,
    account: AccountId,
    since: DateTime<Utc>,
) -> impl Stream<Item = Result<WatchJobsResponse, Status>> {
    let watcher = Watcher {
        store,
        account,
        horizon: since,
        sent: HashMap::new(),
        pending: VecDeque::new(),
        first_poll: true,
    };
    futures::stream::unfold(Some(watcher), |state| async move {
        let mut watcher = state?;
        loop {
            if let Some(job) = watcher.pending.pop_front() {
                let message = WatchJobsResponse { job: Some(encode::job(job)) };
                return Some((Ok(message), Some(watcher)));
            }
            if !std::mem::take(&mut watcher.first_poll) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            if let Err(error) = watcher.poll().await {
                return Some((Err(Status::from(error)), None));
            }
        }
    })
}

struct Watcher {
    store: JobsStore,
    account: AccountId,
    /// The latest `updated_at` seen (or the watch's start).
    horizon: DateTime<Utc>,
    /// What was sent of each job changed within the look-back window.
    sent: HashMap<JobId, DateTime<Utc>>,
    /// Changes found and not yet sent.
    pending: VecDeque<Job>,
    first_poll: bool,
}

impl Watcher {
    /// Queues every change in the look-back window not already sent.
    async fn poll(&mut self) -> Result<(), Error> {
        let window_start = self.horizon - LOOKBACK;
        let mut after = window_start;
        loop {
            let batch = self.store.jobs_changed_after(&self.account, after).await?;
            let full = batch.len() >= FULL_BATCH;
            for job in batch {
                after = after.max(job.updated_at);
                if self.sent.get(&job.job_id) != Some(&job.updated_at) {
                    self.sent.insert(job.job_id, job.updated_at);
                    self.pending.push_back(job);
                }
            }
            if !full {
                break;
            }
        }
        self.horizon = self.horizon.max(after);
        // Older entries can no longer come back from a query of the window.
        let oldest_needed = self.horizon - LOOKBACK;
        self.sent.retain(|_, updated_at| *updated_at > oldest_needed);
        Ok(())
    }
}
