//! The count of open live update streams, per user and in total, so that no user (a
//! page open in a hundred tabs, a script) and no crowd can hold more than their share
//! of the gateway's connections and the registry's watches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bgjobs_domain::AccountId;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::settings::StreamLimits;

/// The open streams of one gateway process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OpenStreams {
    limits: StreamLimits,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_user: HashMap<User, usize>,
}

/// A user: ids are unique within an account only.
type User = (AccountId, String);

/// A place taken by one open stream, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    streams: OpenStreams,
    user: User,
}

impl OpenStreams {
    /// No stream open yet, at most `limits` at once.
    pub fn new(limits: StreamLimits) -> Self {
        Self { limits, counts: Arc::default() }
    }

    /// Takes a place for a stream of `caller`, or says (429) which limit is reached.
    pub fn open(&self, caller: &Caller) -> Result<Slot, ApiError> {
        let user = (caller.account.clone(), caller.user_id.clone());
        let mut counts = self.lock();
        let users_streams = counts.per_user.get(&user).copied().unwrap_or(0);
        if users_streams >= self.limits.per_user {
            return Err(ApiError::TooManyRequests(format!(
                "you already have {users_streams} pages following live updates (at most {} \
                 at once); close the Background Jobs pages or tabs you no longer use and \
                 this one will follow again",
                self.limits.per_user
            )));
        }
        if counts.total >= self.limits.total {
            tracing::warn!(open = counts.total, "live update streams at the gateway's limit");
            return Err(ApiError::TooManyRequests(
                "the server is following as many live updates as it can right now; the page \
                 tries again by itself shortly"
                    .to_owned(),
            ));
        }
        counts.total += 1;
        *counts.per_user.entry(user.clone()).or_default() += 1;
        drop(counts);
        Ok(Slot { streams: self.clone(), user })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Nothing under this lock can panic half-way; poisoned counts are still whole.
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.streams.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(users_streams) = counts.per_user.get_mut(&self.user) {
            *users_streams -= 1;
            if *users_streams == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(account: &str, user_id: &str) -> Caller {
        Caller {
            user_id: user_id.to_owned(),
            name: user_id.to_owned(),
            account: AccountId::parse(account).expect("account"),
            can_retry: false,
            email: None,
            time_zone: None,
        }
    }

    #[test]
    fn a_user_over_their_limit_is_refused_until_one_of_their_streams_closes() {
        let streams = OpenStreams::new(StreamLimits { per_user: 2, total: 10 });
        let ann = caller("acme", "ann");
        let first = streams.open(&ann).expect("first");
        let _second = streams.open(&ann).expect("second");
        let refused = streams.open(&ann).expect_err("third");
        assert!(refused.to_string().contains("at most 2 at once"), "{refused}");
        // The same user id in another account is another user.
        let _elsewhere = streams.open(&caller("globex", "ann")).expect("another user");
        drop(first);
        streams.open(&ann).expect("a place was given back");
    }

    #[test]
    fn over_the_total_everyone_is_refused_until_a_stream_closes() {
        let streams = OpenStreams::new(StreamLimits { per_user: 5, total: 2 });
        let ann = streams.open(&caller("acme", "ann")).expect("ann");
        let _bob = streams.open(&caller("acme", "bob")).expect("bob");
        let refused = streams.open(&caller("acme", "cid")).expect_err("over the total");
        assert_eq!(refused.status_and_code().1, "too_many_requests");
        drop(ann);
        streams.open(&caller("acme", "cid")).expect("a place was given back");
    }
}
