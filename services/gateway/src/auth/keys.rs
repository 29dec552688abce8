//! The public keys tokens are verified with: one configured key, or an identity
//! provider's JWKS, cached and fetched again when a token names a key not seen yet
//! (the provider rotated its keys).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

use crate::error::ApiError;

/// A fetched JWKS is used this long before it is fetched again.
const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// An unknown key id fetches the JWKS again at most this often, so a flood of forged
/// tokens cannot turn into a flood of requests to the identity provider.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);

/// The keys tokens may be signed with; cheap to clone.
#[derive(Clone)]
pub struct Keys(Arc<Source>);

enum Source {
    Single(DecodingKey),
    Jwks { url: String, http: reqwest::Client, cache: Mutex<Cached> },
}

#[derive(Default)]
struct Cached {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::Single(_) => f.write_str("Keys::Single"),
            Source::Jwks { url, .. } => write!(f, "Keys::Jwks({url})"),
        }
    }
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the RSA public key is not usable: {0}")]
pub struct KeyError(String);

impl Keys {
    /// One RSA public key in PEM form.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyError(e.to_string()))?;
        Ok(Self::single(key))
    }

    /// One key.
    pub fn single(key: DecodingKey) -> Self {
        Self(Arc::new(Source::Single(key)))
    }

    /// The keys of the JWKS at `url`, fetched on first use.
    pub fn jwks(url: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self(Arc::new(Source::Jwks { url, http, cache: Mutex::new(Cached::default()) }))
    }

    /// The key a token with key id `kid` was signed with.
    pub(super) async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, ApiError> {
        let (url, http, cache) = match &*self.0 {
            Source::Single(key) => return Ok(key.clone()),
            Source::Jwks { url, http, cache } => (url, http, cache),
        };
        let mut cached = cache.lock().await;
        let age = cached.fetched_at.map(|at| at.elapsed());
        let known = lookup(&cached.by_kid, kid);
        let stale = age.is_none_or(|age| age > JWKS_MAX_AGE);
        let may_refetch = age.is_none_or(|age| age > JWKS_MIN_REFETCH);
        if known.is_none() && may_refetch || stale {
            match fetch(http, url).await {
                Ok(by_kid) => *cached = Cached { by_kid, fetched_at: Some(Instant::now()) },
                Err(error) if known.is_some() => {
                    tracing::warn!(%url, %error, "refreshing the JWKS failed; using the cached keys");
                }
                Err(error) => {
                    tracing::error!(%url, %error, "fetching the JWKS failed");
                    return Err(ApiError::Unavailable(
                        "sign-in cannot be checked right now (the identity provider's keys \
                         are unreachable); try again shortly"
                            .to_owned(),
                    ));
                }
            }
        }
        lookup(&cached.by_kid, kid).ok_or_else(|| {
            ApiError::Unauthenticated("the bearer token is signed with an unknown key".to_owned())
        })
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

/// The RSA signing keys of the JWKS at `url`, by key id (keys without one are "").
async fn fetch(http: &reqwest::Client, url: &str) -> Result<HashMap<String, DecodingKey>, String> {
    let set: JwkSet = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| format!("not a JWKS document: {error}"))?;
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            by_kid.insert(jwk.common.key_id.clone().unwrap_or_default(), key);
        }
    }
    Ok(by_kid)
}
