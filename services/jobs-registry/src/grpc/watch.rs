//! `WatchJobs`: an account's job changes, found by one poller per registry process and
//! fanned out to every open watch, so that open pages cost the database nothing more
//! and a change is seen whichever registry replica (or the recovery sweep) made it.

mod feed;
mod poller;

use std::sync::Arc;

use bgjobs_database::JobsStore;
use bgjobs_database::jobs::Job;
use bgjobs_domain::AccountId;
use bgjobs_proto::ErrorCode;
use bgjobs_proto::v1::WatchJobsResponse;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tonic::Status;

pub use feed::Bounds;
use feed::{Feed, Subscription};

use super::encode;

/// The watches of one registry process and their poller. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Watches {
    feed: Arc<Feed>,
}

impl Watches {
    /// Starts the poller of `store` on the current runtime; it runs until `stop` is
    /// cancelled, querying only while a watch is open.
    pub fn start(store: JobsStore, bounds: Bounds, stop: CancellationToken) -> Self {
        let feed = Arc::new(Feed::new(bounds));
        tokio::spawn(poller::Poller::new(store, Arc::clone(&feed)).run(stop));
        Self { feed }
    }

    /// The changes of `account` from about five seconds before now on, one message per
    /// change, in the order they were made, until the caller goes away. The stream
    /// ends with an error when the database fails, and with `fell_behind` when the
    /// caller has not taken the changes as fast as they came, so that it never holds
    /// up the other watches.
    pub fn watch(
        &self,
        account: AccountId,
    ) -> impl Stream<Item = Result<WatchJobsResponse, Status>> + use<> {
        let subscription = self.feed.subscribe(account);
        futures::stream::unfold(Some(subscription), |state| async move {
            let mut subscription: Subscription = state?;
            if let Some(job) = subscription.earlier.pop_front() {
                return Some((Ok(message(&job)), Some(subscription)));
            }
            match subscription.later.recv().await {
                Ok(Ok(job)) => Some((Ok(message(&job)), Some(subscription))),
                Ok(Err(status)) => Some((Err(status), None)),
                Err(RecvError::Lagged(missed)) => Some((Err(fell_behind(missed)), None)),
                Err(RecvError::Closed) => None,
            }
        })
    }
}

fn message(job: &Job) -> WatchJobsResponse {
    WatchJobsResponse { job: Some(encode::job(job.clone())) }
}

fn fell_behind(missed: u64) -> Status {
    tracing::info!(missed, "a watch fell behind its changes and is ended");
    ErrorCode::FellBehind.status(format!(
        "live updates fell {missed} changes behind (the connection is too slow for how fast \
         jobs change) and were stopped; reconnect and reload the list to catch up"
    ))
}
