//! An identity provider's JWKS, kept fresh without ever making a request wait behind
//! a lock while the document is fetched.
//!
//! Requests read the current key set (an `Arc` swapped in after each successful
//! fetch). A token naming an unknown key id waits for a fetch: the one already under
//! way if there is one (so a storm of such tokens makes one fetch), or a new one if the
//! schedule allows it. Fetches are at least [`JwksRefresh::min_interval`] apart; after
//! failures the wait doubles per failure up to [`JwksRefresh::max_backoff`], so an
//! identity provider that is down is not hammered by every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;

use crate::AuthError;

/// How the JWKS is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksRefresh {
    /// A document this old is fetched again in the background; its keys are still
    /// served meanwhile (and for as long as the provider cannot be reached).
    pub max_age: Duration,
    /// At least this long between two fetches, whatever the tokens name; also the
    /// wait after the first failure.
    pub min_interval: Duration,
    /// The longest wait between two fetches after failures.
    pub max_backoff: Duration,
}

impl Default for JwksRefresh {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(600),
            min_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl JwksRefresh {
    /// The wait before the next fetch after `failures` failures in a row (0: after a
    /// success): the minimum interval, doubled per failure after the first, capped.
    pub fn wait_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let backoff = self.min_interval.saturating_mul(1 << doublings);
        if failures == 0 { self.min_interval } else { backoff.min(self.max_backoff) }
    }
}

/// The keys of one JWKS URL; cheap to clone.
#[derive(Clone)]
pub(crate) struct Jwks(Arc<Inner>);

struct Inner {
    url: String,
    http: reqwest::Client,
    refresh: JwksRefresh,
    /// Held only to read or swap the `Arc`, never across an `await`.
    keys: RwLock<Arc<KeySet>>,
    /// Held only to decide whether to fetch, never across an `await`.
    schedule: Mutex<Schedule>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct Schedule {
    /// The fetch under way, which every request that needs it awaits.
    in_flight: Option<Shared<BoxFuture<'static, ()>>>,
    /// No fetch starts before this (None: one may start now).
    next_fetch_at: Option<Instant>,
    /// Failed fetches since the last success.
    failures: u32,
}

impl Jwks {
    /// The JWKS at `url`, fetched on first use.
    pub(crate) fn new(url: String, refresh: JwksRefresh) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self(Arc::new(Inner {
            url,
            http,
            refresh,
            keys: RwLock::new(Arc::default()),
            schedule: Mutex::new(Schedule::default()),
        }))
    }

    /// The URL, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.0.url
    }

    /// The key a token with key id `kid` was signed with.
    pub(crate) async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let keys = self.0.current();
        if let Some(key) = lookup(&keys.by_kid, kid) {
            let stale = keys.fetched_at.is_none_or(|at| at.elapsed() > self.0.refresh.max_age);
            if stale {
                // Served at once; the fresh document replaces it when it arrives.
                let _background = Inner::start_fetch(&self.0);
            }
            return Ok(key);
        }
        if let Some(fetch) = Inner::start_fetch(&self.0) {
            fetch.await;
        }
        lookup(&self.0.current().by_kid, kid).ok_or_else(|| self.0.missing_key())
    }
}

impl Inner {
    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fetch to wait for: the one under way, or a new one when the schedule allows
    /// it (None: none may start yet). The fetch runs in a task of its own, so it
    /// completes even when the request that started it goes away.
    fn start_fetch(this: &Arc<Self>) -> Option<Shared<BoxFuture<'static, ()>>> {
        let mut schedule = this.schedule();
        if let Some(fetch) = &schedule.in_flight {
            return Some(fetch.clone());
        }
        if schedule.next_fetch_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        let inner = Arc::clone(this);
        let task = tokio::spawn(async move { inner.fetch_and_swap().await });
        let fetch = async move {
            let _finished = task.await;
        }
        .boxed()
        .shared();
        schedule.in_flight = Some(fetch.clone());
        Some(fetch)
    }

    async fn fetch_and_swap(&self) {
        let fetched = fetch(&self.http, &self.url).await;
        let now = Instant::now();
        if let Ok(by_kid) = &fetched {
            let keys = KeySet { by_kid: by_kid.clone(), fetched_at: Some(now) };
            *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        }
        let mut schedule = self.schedule();
        schedule.in_flight = None;
        match fetched {
            Ok(by_kid) => {
                schedule.failures = 0;
                tracing::debug!(url = %self.url, keys = by_kid.len(), "fetched the JWKS");
            }
            Err(error) => {
                schedule.failures += 1;
                let retry_in = self.refresh.wait_after(schedule.failures);
                tracing::warn!(
                    url = %self.url, %error, failures = schedule.failures, ?retry_in,
                    "fetching the JWKS failed; the keys already fetched are still used"
                );
            }
        }
        schedule.next_fetch_at = Some(now + self.refresh.wait_after(schedule.failures));
    }

    /// Why no key was found: the provider could not be asked, or it does not
    /// publish the key.
    fn missing_key(&self) -> AuthError {
        if self.schedule().failures > 0 {
            AuthError::Unavailable(
                "sign-in cannot be checked right now (the identity provider's keys are \
                 unreachable); try again shortly"
                    .to_owned(),
            )
        } else {
            AuthError::Unauthenticated("the bearer token is signed with an unknown key".to_owned())
        }
    }
}

/// The key named `kid`, or the only key when the token names none.
fn lookup(by_kid: &HashMap<String, DecodingKey>, kid: Option<&str>) -> Option<DecodingKey> {
    match kid {
        Some(kid) => by_kid.get(kid).cloned(),
        None if by_kid.len() == 1 => by_kid.values().next().cloned(),
        None => None,
    }
}

/// A JWKS document, its keys read one by one so that one key this gateway cannot
/// read (another key type, a newer algorithm) does not hide the others.
#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

/// The RS256 signing keys of the JWKS at `url`, by key id (keys without one are "").
async fn fetch(http: &reqwest::Client, url: &str) -> Result<HashMap<String, DecodingKey>, String> {
    let document: Document = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| format!("not a JWKS document: {error}"))?;
    let mut by_kid = HashMap::new();
    for value in document.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else { continue };
        if !verifies_rs256_signatures(&jwk) {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            by_kid.insert(jwk.common.key_id.clone().unwrap_or_default(), key);
        }
    }
    Ok(by_kid)
}

/// Whether a published key may verify tokens here: an RSA key, for signatures (or no
/// stated use), for RS256 (or no stated algorithm). An encryption key or a key meant
/// for another algorithm is never used, whatever a token's header says.
fn verifies_rs256_signatures(jwk: &Jwk) -> bool {
    matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
        && matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature))
        && matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_per_failure_up_to_the_cap() {
        let refresh = JwksRefresh {
            max_age: Duration::from_secs(600),
            min_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(300),
        };
        let waits: Vec<u64> =
            (0..7).map(|failures| refresh.wait_after(failures).as_secs()).collect();
        assert_eq!(waits, [30, 30, 60, 120, 240, 300, 300]);
        assert_eq!(refresh.wait_after(u32::MAX), Duration::from_secs(300));
    }
}
