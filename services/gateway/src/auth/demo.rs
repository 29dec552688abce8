//! Demo users for local use (`BGJOBS_GATEWAY_DEMO_USERS=true` only): a signing key
//! generated at start and three users to sign in as.

use chrono::Utc;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Claims, RETRY_ROLE, VIEW_ROLE};

/// How long a demo sign-in lasts.
pub const DEMO_TOKEN_SECS: i64 = 8 * 3600;
/// The demo users' account.
pub const DEMO_ACCOUNT: &str = "demo";
/// The account of the demo user who must see none of the others' jobs.
pub const OTHER_DEMO_ACCOUNT: &str = "demo-other";

/// A user one can sign in as on the demo sign-in page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DemoUser {
    /// The user's id (`sub`), also the name to sign in with.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// The account the user works in.
    pub account: &'static str,
    /// The user's roles.
    pub roles: Vec<&'static str>,
    /// The user's email address (the token's `email` claim).
    pub email: &'static str,
    /// The user's time zone (the token's `zoneinfo` claim), when the token names one;
    /// otherwise the browser's is used.
    pub time_zone: Option<&'static str>,
    /// What the user shows.
    pub description: &'static str,
}

/// The three demo users: view-only, view and retry, and one in another account.
pub fn users() -> Vec<DemoUser> {
    vec![
        DemoUser {
            id: "viewer",
            name: "Vera Viewer",
            account: DEMO_ACCOUNT,
            roles: vec![VIEW_ROLE],
            email: "viewer@example.com",
            time_zone: None,
            description: "sees the account's jobs; cannot retry or start work",
        },
        DemoUser {
            id: "operator",
            name: "Omar Operator",
            account: DEMO_ACCOUNT,
            roles: vec![VIEW_ROLE, RETRY_ROLE],
            email: "operator@example.com",
            time_zone: Some("Europe/Paris"),
            description: "sees, retries, uploads and deletes",
        },
        DemoUser {
            id: "other",
            name: "Olga Other",
            account: OTHER_DEMO_ACCOUNT,
            roles: vec![VIEW_ROLE, RETRY_ROLE],
            email: "other@example.com",
            time_zone: None,
            description: "works in another account and sees none of the demo account's jobs",
        },
    ]
}

/// An RSA key pair that signs RS256 tokens.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey")
    }
}

/// A key pair that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("generating an RSA signing key failed: {0}")]
pub struct KeyError(String);

impl SigningKey {
    /// A fresh 2048-bit key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let error = |e: &dyn std::fmt::Display| KeyError(e.to_string());
        let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| error(&e))?;
        let private_pem = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| error(&e))?;
        let public_pem =
            private.to_public_key().to_pkcs1_pem(LineEnding::LF).map_err(|e| error(&e))?;
        Ok(Self {
            encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(|e| error(&e))?,
            decoding: DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|e| error(&e))?,
            public_pem,
        })
    }

    /// The public key that verifies this key's tokens.
    pub fn decoding_key(&self) -> DecodingKey {
        self.decoding.clone()
    }

    /// The public key, PEM-encoded (PKCS#1).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// A token with exactly `claims` (any JSON object, so that tests can leave out
    /// or add claims), signed RS256.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, KeyError> {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &self.encoding)
            .map_err(|e| KeyError(e.to_string()))
    }

    /// A token with exactly `claims`, signed RS256, naming this key `key_id` in its
    /// header, as an identity provider that publishes a JWKS does.
    pub fn sign_with_key_id(
        &self,
        key_id: &str,
        claims: &impl Serialize,
    ) -> Result<String, KeyError> {
        let header = Header { kid: Some(key_id.to_owned()), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| KeyError(e.to_string()))
    }

    /// The public key as a JWK named `key_id`, for a JWKS document.
    pub fn jwk(&self, key_id: &str) -> Result<Jwk, KeyError> {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::RS256)
            .map_err(|e| KeyError(e.to_string()))?;
        jwk.common.key_id = Some(key_id.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(jwk)
    }

    /// A token for demo user `user`, valid for [`DEMO_TOKEN_SECS`].
    pub fn sign_in(
        &self,
        user: &DemoUser,
        issuer: &str,
        audience: &str,
    ) -> Result<String, KeyError> {
        let now = Utc::now().timestamp();
        self.sign(&Claims {
            sub: user.id.to_owned(),
            name: user.name.to_owned(),
            account: user.account.to_owned(),
            roles: user.roles.iter().map(|role| (*role).to_owned()).collect(),
            email: Some(user.email.to_owned()),
            zoneinfo: user.time_zone.map(str::to_owned),
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            exp: now + DEMO_TOKEN_SECS,
            iat: Some(now),
            nbf: None,
        })
    }
}
