//! Demo users for local use (`BGJOBS_GATEWAY_DEMO_USERS=true` only): a signing key
//! generated at start and three users to sign in as.

use bgjobs_auth::{Claims, RETRY_ROLE, SigningError, SigningKey, VIEW_ROLE};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

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

/// A token for demo user `user` signed with `key`, valid for [`DEMO_TOKEN_SECS`].
pub fn sign_in(
    key: &SigningKey,
    user: &DemoUser,
    issuer: &str,
    audience: &str,
) -> Result<String, SigningError> {
    let now = Utc::now().timestamp();
    key.sign(&Claims {
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
