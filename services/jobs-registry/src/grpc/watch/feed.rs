//! The fan-out of job changes to every open watch: one bounded channel per watched
//! account, plus the account's changes of the last few seconds for a watch that opens.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bgjobs_database::jobs::Job;
use bgjobs_domain::AccountId;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast};
use tonic::Status;

/// What a watch receives: a job as it was when the change was found, or why the
/// stream ends.
pub type Notice = Result<Arc<Job>, Status>;

/// How many changes a watch may fall behind before it is ended (per account), and how
/// many recent changes an account keeps for watches that open.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// A watch that has not taken this many changes of its account is ended.
    pub buffer: usize,
    /// At most this many changes of an account are kept for watches that open later.
    pub recent: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { buffer: 1024, recent: 1024 }
    }
}

/// The open watches, by account. Shared by the poller (which publishes) and the
/// `WatchJobs` handlers (which subscribe).
#[derive(Debug)]
pub struct Feed {
    accounts: Mutex<HashMap<AccountId, AccountFeed>>,
    bounds: Bounds,
    watch_opened: Notify,
}

#[derive(Debug)]
struct AccountFeed {
    sender: broadcast::Sender<Notice>,
    /// Changes published within the look-back window, oldest first.
    recent: VecDeque<Arc<Job>>,
}

/// A watch's start: what changed just before it opened, then what changes.
#[derive(Debug)]
pub struct Subscription {
    /// The account's changes of the look-back window, each job once (its latest
    /// state), oldest change first.
    pub earlier: VecDeque<Arc<Job>>,
    /// Every change from the moment of the subscription on.
    pub later: broadcast::Receiver<Notice>,
}

impl Feed {
    /// A feed with no watch open.
    pub fn new(bounds: Bounds) -> Self {
        Self { accounts: Mutex::new(HashMap::new()), bounds, watch_opened: Notify::new() }
    }

    /// Opens a watch of `account`. What was published before is in `earlier`, what is
    /// published after in `later`, never both: both are taken under one lock.
    pub fn subscribe(&self, account: AccountId) -> Subscription {
        let buffer = self.bounds.buffer;
        let subscription = {
            let mut accounts = self.lock();
            let feed = accounts.entry(account).or_insert_with(|| AccountFeed {
                sender: broadcast::channel(buffer).0,
                recent: VecDeque::new(),
            });
            Subscription {
                earlier: latest_of_each_job(&feed.recent),
                later: feed.sender.subscribe(),
            }
        };
        self.watch_opened.notify_one();
        subscription
    }

    /// The accounts with an open watch; the others are forgotten.
    pub fn watched_accounts(&self) -> Vec<AccountId> {
        let mut accounts = self.lock();
        accounts.retain(|_, feed| feed.sender.receiver_count() > 0);
        accounts.keys().cloned().collect()
    }

    /// Waits until a watch opens (at once if one opened since the last wait).
    pub async fn watch_opened(&self) {
        self.watch_opened.notified().await;
    }

    /// Sends each change to the watches of its account, in order, and keeps it for
    /// watches that open later. Never waits: a watch that is behind by more than the
    /// buffer loses its place and is ended when it next reads.
    pub fn publish(&self, changes: Vec<Job>) {
        let mut accounts = self.lock();
        for job in changes {
            let Some(feed) = accounts.get_mut(&job.account_id) else {
                continue;
            };
            let job = Arc::new(job);
            if feed.recent.len() >= self.bounds.recent {
                feed.recent.pop_front();
            }
            feed.recent.push_back(Arc::clone(&job));
            // An error only means that nobody is watching the account right now.
            let _ = feed.sender.send(Ok(job));
        }
    }

    /// Forgets the changes made at or before `oldest_kept`: a watch opening now no
    /// longer needs them.
    pub fn forget_until(&self, oldest_kept: DateTime<Utc>) {
        for feed in self.lock().values_mut() {
            while feed.recent.front().is_some_and(|job| job.updated_at <= oldest_kept) {
                feed.recent.pop_front();
            }
        }
    }

    /// Ends every open watch with `status`.
    pub fn end_all(&self, status: &Status) {
        for (_, feed) in self.lock().drain() {
            // Dropping the sender then closes the channel after the status.
            let _ = feed.sender.send(Err(status.clone()));
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AccountId, AccountFeed>> {
        // Nothing under this lock can panic half-way; a poisoned map is still whole.
        self.accounts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `recent` with only the last change of each job, in the order of those changes.
fn latest_of_each_job(recent: &VecDeque<Arc<Job>>) -> VecDeque<Arc<Job>> {
    let mut seen = HashSet::new();
    let mut latest: VecDeque<_> =
        recent.iter().rev().filter(|job| seen.insert(job.job_id)).cloned().collect();
    latest.make_contiguous().reverse();
    latest
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgjobs_database::jobs::{Counters, ReferenceIds};
    use bgjobs_domain::{JobStatus, JobType};
    use broadcast::error::TryRecvError;

    /// Job `id` of `account` as changed at `second`.
    fn job(account: &str, id: u128, second: i64) -> Job {
        let at = DateTime::from_timestamp(second, 0).expect("time");
        Job {
            job_id: uuid::Uuid::from_u128(id).into(),
            account_id: AccountId::parse(account).expect("account"),
            job_type: JobType::ProductUpload,
            status: JobStatus::New,
            attempt: 1,
            message: String::new(),
            input_object_key: None,
            result_object_key: None,
            original_file_name: None,
            parameters: serde_json::Value::Null,
            reference_ids: ReferenceIds::default(),
            counters: Counters::default(),
            last_applied: None,
            created_by: "ann".to_owned(),
            created_at: at,
            updated_by: "ann".to_owned(),
            updated_at: at,
            notify: None,
        }
    }

    fn received(subscription: &mut Subscription) -> Vec<(u128, i64)> {
        let mut changes: Vec<_> = subscription.earlier.drain(..).collect();
        while let Ok(notice) = subscription.later.try_recv() {
            changes.push(notice.expect("a change"));
        }
        changes
            .iter()
            .map(|job| (job.job_id.as_uuid().as_u128(), job.updated_at.timestamp()))
            .collect()
    }

    fn account(name: &str) -> AccountId {
        AccountId::parse(name).expect("account")
    }

    #[test]
    fn a_watch_gets_its_account_s_changes_in_order_and_no_other_account_s() {
        let feed = Feed::new(Bounds::default());
        let mut acme = feed.subscribe(account("acme"));
        let mut globex = feed.subscribe(account("globex"));
        feed.publish(vec![job("acme", 1, 10), job("globex", 2, 11), job("acme", 3, 12)]);
        assert_eq!(received(&mut acme), vec![(1, 10), (3, 12)]);
        assert_eq!(received(&mut globex), vec![(2, 11)]);
    }

    #[test]
    fn a_watch_that_opens_gets_the_recent_changes_once_each_then_the_new_ones() {
        let feed = Feed::new(Bounds::default());
        let _first = feed.subscribe(account("acme"));
        feed.publish(vec![job("acme", 1, 10), job("acme", 2, 11), job("acme", 1, 12)]);
        let mut second = feed.subscribe(account("acme"));
        feed.publish(vec![job("acme", 3, 13)]);
        // Job 1 as it last was, after job 2; nothing twice.
        assert_eq!(received(&mut second), vec![(2, 11), (1, 12), (3, 13)]);

        feed.forget_until(DateTime::from_timestamp(11, 0).expect("time"));
        let mut third = feed.subscribe(account("acme"));
        assert_eq!(received(&mut third), vec![(1, 12), (3, 13)]);
    }

    #[test]
    fn a_watch_that_falls_behind_is_ended_and_holds_up_nobody() {
        let feed = Feed::new(Bounds { buffer: 4, recent: 4 });
        let mut slow = feed.subscribe(account("acme"));
        let mut reading = feed.subscribe(account("acme"));
        let mut taken = Vec::new();
        for id in 0..10 {
            feed.publish(vec![job("acme", id, 10 + i64::try_from(id).expect("small"))]);
            taken.extend(received(&mut reading));
        }
        assert_eq!(taken.len(), 10, "the reading watch got every change: {taken:?}");
        assert!(matches!(slow.later.try_recv(), Err(TryRecvError::Lagged(6))));
        // What an account keeps for new watches is bounded too.
        assert_eq!(feed.subscribe(account("acme")).earlier.len(), 4);
    }

    #[test]
    fn accounts_without_an_open_watch_are_forgotten_and_their_changes_dropped() {
        let feed = Feed::new(Bounds::default());
        let acme = feed.subscribe(account("acme"));
        let globex = feed.subscribe(account("globex"));
        drop(globex);
        assert_eq!(feed.watched_accounts(), vec![account("acme")]);
        feed.publish(vec![job("globex", 1, 10)]);
        assert!(feed.subscribe(account("globex")).earlier.is_empty());
        drop(acme);
    }

    #[test]
    fn ending_every_watch_gives_each_the_status_then_closes() {
        let feed = Feed::new(Bounds::default());
        let mut watch = feed.subscribe(account("acme"));
        feed.end_all(&Status::unavailable("the database is unreachable"));
        let ended = watch.later.try_recv().expect("a notice").expect_err("the status");
        assert_eq!(ended.message(), "the database is unreachable");
        assert!(matches!(watch.later.try_recv(), Err(TryRecvError::Closed)));
        assert!(feed.watched_accounts().is_empty());
    }
}
