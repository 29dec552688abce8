//! Demo sign-in (`BGJOBS_GATEWAY_DEMO_USERS=true` only; otherwise these routes answer
//! 404): the demo users, a token for the one picked, and the key that verifies those
//! tokens as a JWKS, which ingest fetches as it would an identity provider's.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::demo::{self, DEMO_TOKEN_SECS, DemoUser};
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Demo};

/// Which demo user to sign in as.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignIn {
    /// The demo user's id: `viewer`, `operator` or `other`.
    pub user: String,
}

/// A signed-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// The bearer token to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

fn enabled(state: &AppState) -> Result<&Demo, ApiError> {
    state.demo.as_deref().ok_or_else(|| ApiError::NotFound("demo users are not enabled".to_owned()))
}

/// The demo users one can sign in as.
#[utoipa::path(get, path = "/api/v1/demo/users", tag = "demo",
    responses((status = 200, body = Vec<DemoUser>), (status = 404, body = ErrorBody)))]
pub async fn users(State(state): State<AppState>) -> Result<Json<Vec<DemoUser>>, ApiError> {
    enabled(&state)?;
    Ok(Json(demo::users()))
}

/// Signs in as a demo user.
#[utoipa::path(post, path = "/api/v1/demo/sign-in", tag = "demo", request_body = SignIn,
    responses((status = 200, body = Session), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    Json(request): Json<SignIn>,
) -> Result<Json<Session>, ApiError> {
    let demo = enabled(&state)?;
    let user = demo::users().into_iter().find(|user| user.id == request.user).ok_or_else(|| {
        ApiError::Invalid(format!(
            "'{}' is not a demo user; use viewer, operator or other",
            request.user
        ))
    })?;
    let token = demo::sign_in(&demo.key, &user, &demo.issuer, &demo.audience)
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(Json(Session { token, expires_at: Utc::now() + TimeDelta::seconds(DEMO_TOKEN_SECS) }))
}

/// The demo users' key name in [`jwks`].
const DEMO_KEY_ID: &str = "demo";

/// The public key of the demo users' tokens, as a JWKS document: what ingest
/// verifies them with under `make run`.
#[utoipa::path(get, path = "/api/v1/demo/jwks.json", tag = "demo",
    responses((status = 200, description = "a JWKS document with one RSA key"),
        (status = 404, body = ErrorBody)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Json<JwkSet>, ApiError> {
    let demo = enabled(&state)?;
    let key = demo.key.jwk(DEMO_KEY_ID).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(Json(JwkSet { keys: vec![key] }))
}
