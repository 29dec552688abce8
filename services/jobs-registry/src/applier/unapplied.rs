//! The events this replica has taken off the stream and not yet settled, and how long
//! the oldest of them has waited: while the database is unavailable, the consumers'
//! heartbeats wait here, delivered but unapplied, where the stream's backlog no longer
//! counts them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// When each unsettled event was taken, by the order taken; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Unapplied {
    taken: Arc<Mutex<Taken>>,
}

#[derive(Debug, Default)]
struct Taken {
    next: u64,
    at: BTreeMap<u64, Instant>,
}

/// One event taken and not yet settled; dropping it settles it here.
#[derive(Debug)]
pub(super) struct Unsettled {
    ticket: u64,
    unapplied: Unapplied,
}

impl Unapplied {
    /// How long the event taken first of those not yet settled has waited; zero when
    /// every event taken is settled.
    pub fn oldest(&self) -> Duration {
        let taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        taken.at.values().next().map_or(Duration::ZERO, Instant::elapsed)
    }

    /// Records an event taken now, until the returned [`Unsettled`] is dropped.
    pub(super) fn take(&self) -> Unsettled {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = taken.next;
        taken.next += 1;
        taken.at.insert(ticket, Instant::now());
        Unsettled { ticket, unapplied: self.clone() }
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        let mut taken = self.unapplied.taken.lock().unwrap_or_else(PoisonError::into_inner);
        taken.at.remove(&self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_oldest_unsettled_event_sets_the_age() {
        let unapplied = Unapplied::default();
        assert_eq!(unapplied.oldest(), Duration::ZERO);
        let first = unapplied.take();
        tokio::time::advance(Duration::from_secs(3)).await;
        let second = unapplied.take();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(unapplied.oldest(), Duration::from_secs(5));
        // Settled out of order, as lanes do: the first still counts until it goes.
        let third = unapplied.take();
        drop(second);
        assert_eq!(unapplied.oldest(), Duration::from_secs(5));
        drop(first);
        assert_eq!(unapplied.oldest(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(unapplied.oldest(), Duration::from_secs(1));
        drop(third);
        assert_eq!(unapplied.oldest(), Duration::ZERO);
    }
}
