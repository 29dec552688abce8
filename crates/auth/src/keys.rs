//! The public keys tokens are verified with: one configured key, or an identity
//! provider's JWKS (see [`crate::jwks`]).

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

use crate::AuthError;
use crate::jwks::{Jwks, JwksRefresh};

/// The keys tokens may be signed with; cheap to clone.
#[derive(Clone)]
pub struct Keys(Arc<Source>);

enum Source {
    Single(DecodingKey),
    Jwks(Jwks),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::Single(_) => f.write_str("Keys::Single"),
            Source::Jwks(jwks) => write!(f, "Keys::Jwks({})", jwks.url()),
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

    /// The keys of the JWKS at `url`, fetched on first use and kept fresh as
    /// `refresh` says.
    pub fn jwks(url: String, refresh: JwksRefresh) -> Self {
        Self(Arc::new(Source::Jwks(Jwks::new(url, refresh))))
    }

    /// The key a token with key id `kid` was signed with.
    pub(crate) async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        match &*self.0 {
            Source::Single(key) => Ok(key.clone()),
            Source::Jwks(jwks) => jwks.key_for(kid).await,
        }
    }
}
