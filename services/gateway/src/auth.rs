//! Who is calling: the bearer token of every request, verified by
//! [`bgjobs_auth::Verifier`], and the demo users of local runs.

pub mod demo;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

pub use bgjobs_auth::{
    CLOCK_LEEWAY_SECS, Caller, Claims, JwksRefresh, Keys, RETRY_ROLE, Session, SigningKey,
    VIEW_ROLE, Verifier,
};

use crate::error::ApiError;
use crate::state::AppState;

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    /// The session [`crate::api::access::enforce`] verified for this request, or else
    /// the request's token, verified now.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(session) = parts.extensions.get::<Session>() {
            return Ok(session.clone());
        }
        let header = parts.headers.get(axum::http::header::AUTHORIZATION);
        let token = bgjobs_auth::bearer_token(header.map(|value| value.as_bytes()))?;
        Ok(state.verifier.verify_session(token).await?)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Session::from_request_parts(parts, state).await?.caller)
    }
}
