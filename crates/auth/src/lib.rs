//! Users' bearer tokens: RS256 JWTs signed by the identity provider, verified
//! against its keys, and the account, user and roles they carry. The gateway checks
//! them on every request; ingest checks the same tokens, which the gateway forwards
//! (or a user sends it directly), so that a job is started only for the account and
//! the user a token names.

mod jwks;
mod keys;
mod settings;
mod signing;

use bgjobs_domain::AccountId;
use bgjobs_domain::recipient::{parse_email, parse_time_zone};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

pub use jwks::JwksRefresh;
pub use keys::{KeyError, Keys};
pub use settings::{KeySource, TokenSettings, Tokens};
pub use signing::{SigningError, SigningKey};

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, or one that is not valid: sign in (again).
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token that lacks a role, or names another account.
    #[error("{0}")]
    Forbidden(String),
    /// The identity provider's keys cannot be fetched just now.
    #[error("{0}")]
    Unavailable(String),
}

/// The token of an `Authorization` header's value: `Bearer <token>`.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&str, AuthError> {
    let header = header
        .ok_or_else(|| unauthenticated("sign in: the request has no Authorization header"))?;
    std::str::from_utf8(header)
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| unauthenticated("the Authorization header is not 'Bearer <token>'"))
}

/// Needed to see anything: jobs, logs, downloads, live updates.
pub const VIEW_ROLE: &str = "AdminBackgroundJobView";
/// Needed, with the view role, to retry a job and to start uploads and deletions.
pub const RETRY_ROLE: &str = "AdminBackgroundJobRetry";

/// The claims the gateway reads from a token. The registered claims (`sub`, `iss`,
/// `aud`, `exp`) default when absent only so that the validation, which requires
/// them, can say which one is missing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    #[serde(default)]
    pub sub: String,
    /// The user's display name, shown as Created By / Updated By.
    #[serde(default)]
    pub name: String,
    /// The tenant the user works in; every request is scoped to it.
    pub account: String,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The user's email address (OpenID Connect's `email`): who is emailed when a job
    /// the user starts ends. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's IANA time zone (OpenID Connect's `zoneinfo`, e.g. `Europe/Paris`),
    /// for the times in those emails. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    /// Issuer.
    #[serde(default)]
    pub iss: String,
    /// Audience.
    #[serde(default)]
    pub aud: String,
    /// Expiry, seconds since the epoch; required.
    #[serde(default)]
    pub exp: i64,
    /// When the token was issued, seconds since the epoch; measures its lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not valid before, seconds since the epoch; checked with the same leeway as
    /// `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's id (`sub`).
    pub user_id: String,
    /// The user's display name, or the id when the token has none.
    pub name: String,
    /// The account every request of this caller is scoped to.
    pub account: AccountId,
    /// Whether the caller may retry jobs and start work.
    pub can_retry: bool,
    /// The caller's email address, when the token has a valid one: who is emailed
    /// when a job they start ends.
    pub email: Option<String>,
    /// The caller's IANA time zone, when the token has a valid one.
    pub time_zone: Option<String>,
}

impl Caller {
    /// Refuses a caller without the retry role.
    pub fn require_retry(&self) -> Result<(), AuthError> {
        if self.can_retry {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!("this needs the {RETRY_ROLE} role")))
        }
    }
}

/// A verified caller and how long their token lasts, for what outlives one request
/// (a live update stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who is calling.
    pub caller: Caller,
    /// When the token stops being accepted: the second after its `exp` plus the clock
    /// leeway.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The clock difference allowed between the identity provider and the gateway, for
/// `exp` and `nbf` alike.
pub const CLOCK_LEEWAY_SECS: u64 = 30;

/// Checks tokens: signature (RS256 only), expiry, not-before, lifetime, issuer and
/// audience.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Keys,
    validation: Validation,
    max_lifetime: Duration,
}

impl Verifier {
    /// A verifier of tokens signed by `keys` for `issuer` and `audience`, valid for at
    /// most `max_lifetime` from issue to expiry.
    pub fn new(keys: Keys, issuer: &str, audience: &str, max_lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_LEEWAY_SECS;
        Self { keys, validation, max_lifetime }
    }

    /// The caller a bearer token stands for; every failure is a 401 that says why in
    /// words a user can act on, never which key or claim value was expected.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        Ok(self.verify_session(token).await?.caller)
    }

    /// Like [`Verifier::verify`], with the moment the token stops being accepted.
    pub async fn verify_session(&self, token: &str) -> Result<Session, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("the bearer token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(unauthenticated("the bearer token is not signed with RS256"));
        }
        let key = self.keys.key_for(header.kid.as_deref()).await?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::ExpiredSignature => {
                        unauthenticated("your session has expired; sign in again")
                    }
                    ErrorKind::ImmatureSignature => unauthenticated(
                        "the bearer token is not valid yet (its 'nbf' is in the future); \
                         check the clocks of this machine and the identity provider",
                    ),
                    ErrorKind::InvalidSignature => {
                        unauthenticated("the bearer token's signature is not valid")
                    }
                    ErrorKind::InvalidAudience => {
                        unauthenticated("the bearer token is not meant for this service")
                    }
                    ErrorKind::InvalidIssuer => {
                        unauthenticated("the bearer token comes from an unknown issuer")
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        unauthenticated(format!("the bearer token has no '{claim}' claim"))
                    }
                    _ => unauthenticated("the bearer token is not valid"),
                }
            })?;
        let claims = data.claims;
        // Required claims are only required to be present: an empty subject would make
        // every such token the same nameless user.
        if claims.sub.trim().is_empty() {
            return Err(unauthenticated("the bearer token's 'sub' claim is empty"));
        }
        self.check_lifetime(&claims)?;
        let account = AccountId::parse(&claims.account)
            .map_err(|_| unauthenticated("the bearer token's account is not a valid account id"))?;
        if !claims.roles.iter().any(|role| role == VIEW_ROLE) {
            return Err(AuthError::Forbidden(format!("this needs the {VIEW_ROLE} role")));
        }
        let name = if claims.name.trim().is_empty() { claims.sub.clone() } else { claims.name };
        // A malformed address or zone refuses nothing: the user is simply not emailed,
        // or is emailed with another zone's times. The values are not logged.
        let email = claims.email.as_deref().and_then(|email| {
            parse_email(email)
                .inspect_err(|_| {
                    tracing::debug!(
                        user_id = %claims.sub,
                        "the token's email claim is not an email address; nobody is emailed \
                         about the jobs this user starts"
                    );
                })
                .ok()
        });
        let time_zone = claims.zoneinfo.as_deref().and_then(|zone| {
            parse_time_zone(zone)
                .inspect_err(|_| {
                    tracing::debug!(
                        user_id = %claims.sub,
                        "the token's zoneinfo claim is not a time zone; the browser's is used"
                    );
                })
                .ok()
        });
        // Refused once the clock, in whole seconds, is past `exp` plus the leeway.
        let leeway = i64::try_from(CLOCK_LEEWAY_SECS).unwrap_or(i64::MAX);
        let refused_from = claims.exp.saturating_add(leeway).saturating_add(1);
        let expires_at = chrono::DateTime::from_timestamp(refused_from, 0)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let caller = Caller {
            user_id: claims.sub,
            name,
            account,
            can_retry: claims.roles.iter().any(|role| role == RETRY_ROLE),
            email,
            time_zone,
        };
        Ok(Session { caller, expires_at })
    }
}

impl Verifier {
    /// Refuses a token meant to last longer than the maximum, measured from `iat`,
    /// else from `nbf`, else from now (a token that says neither when it was issued
    /// nor when it starts must at least expire within the maximum). An `iat` later than
    /// now (beyond the clock leeway) is refused: measured from it, a token issued "in a
    /// year" for an hour would be accepted for a year and an hour.
    fn check_lifetime(&self, claims: &Claims) -> Result<(), AuthError> {
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(CLOCK_LEEWAY_SECS).unwrap_or(i64::MAX);
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(unauthenticated(
                "the bearer token was issued in the future (its 'iat'); check the clocks of \
                 this machine and the identity provider",
            ));
        }
        let start = claims.iat.or(claims.nbf).unwrap_or(now);
        let lifetime = claims.exp.saturating_sub(start);
        let max = i64::try_from(self.max_lifetime.as_secs()).unwrap_or(i64::MAX);
        if lifetime > max {
            return Err(unauthenticated(format!(
                "the bearer token is valid for longer than the {} this service accepts; \
                 sign in again with a shorter-lived token",
                spoken_duration(self.max_lifetime)
            )));
        }
        Ok(())
    }
}

/// "24 hours", "90 minutes", "45 seconds".
fn spoken_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        s if s % 3600 == 0 && s >= 3600 => plural(s / 3600, "hour"),
        s if s % 60 == 0 && s >= 60 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(count: u64, unit: &str) -> String {
    if count == 1 { format!("1 {unit}") } else { format!("{count} {unit}s") }
}

fn unauthenticated(message: impl Into<String>) -> AuthError {
    AuthError::Unauthenticated(message.into())
}
