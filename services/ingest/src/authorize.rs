//! Who may call each route: every request is checked against
//! [`policies::INGEST_HTTP`] with the identity its connection's client certificate
//! proves, before it reaches a handler.

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bgjobs_identity::{Refusal, policies};

use crate::Error;
use crate::https::Peer;

/// Passes on a request its route's rule admits; answers any other with 401 (no
/// certificate of the bgjobs authority) or 403 (naming who may call).
pub(crate) async fn authorize(
    ConnectInfo(peer): ConnectInfo<Peer>,
    route: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str();
    match policies::INGEST_HTTP.check(method, route.as_str(), peer.caller) {
        Ok(_) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(client = %peer.address, %method, route = route.as_str(), ?refusal, "call refused");
            match refusal {
                Refusal::Unauthenticated(reason) => Error::Unauthenticated(reason),
                Refusal::Forbidden(reason) => Error::Forbidden(reason),
            }
            .into_response()
        }
    }
}
