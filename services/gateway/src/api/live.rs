//! Live updates: `GET /api/v1/events`, a Server-Sent Events stream of the caller's
//! account's jobs as they change, fed by the registry's `WatchJobs`.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use bgjobs_proto::v1::WatchJobsRequest;
use futures::{Stream, StreamExt};

use super::model::JobView;
use crate::auth::Session;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Server-Sent Events: `ready` once connected, then `job` (a job as `GET /api/v1/jobs`
/// shows it) for each change; `unavailable` with a message if the registry goes away
/// (or the stream fell behind), after which the stream ends and the page reconnects;
/// `expired` with a message when the token the stream was opened with expires, after
/// which the stream ends and the page asks the user to sign in again. The stream also
/// ends when the gateway shuts down. A user may have `BGJOBS_GATEWAY_SSE_MAX_PER_USER`
/// streams open at once, everyone together `BGJOBS_GATEWAY_SSE_MAX_TOTAL`: one more
/// is a 429 `too_many_requests` saying which.
#[utoipa::path(get, path = "/api/v1/events", tag = "jobs",
    responses((status = 200, content_type = "text/event-stream", description = "job changes"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    session: Session,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Session { caller, expires_at } = session;
    // Taken before the registry is asked, and held by the stream until it ends.
    let slot = state.live_streams.open(&caller)?;
    let request = WatchJobsRequest { account_id: caller.account.to_string() };
    let changes = state
        .registry
        .clone()
        .watch_jobs(request)
        .await
        .map_err(|status| ApiError::from_grpc("jobs registry", &status))?
        .into_inner();
    let stall_after = state.stall_delta();
    let changes = changes.map(move |change| {
        let event = match change.map(|change| change.job) {
            Ok(Some(job)) => {
                let view = JobView::new(job, &caller, stall_after);
                Event::default().event("job").json_data(view).unwrap_or_else(|error| {
                    Event::default().event("unavailable").data(error.to_string())
                })
            }
            Ok(None) => Event::default().comment("empty change"),
            Err(status) => {
                let error = ApiError::from_grpc("jobs registry", &status);
                Event::default().event("unavailable").data(error.to_string())
            }
        };
        Ok(event)
    });
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("")) });
    let expiry = tokio::time::Instant::now() + until(expires_at);
    let until_expiry = ready.chain(changes).take_until(tokio::time::sleep_until(expiry));
    // Ended by the token's expiry (rather than by the registry): say so, once.
    let expired = futures::stream::once(async move {
        (tokio::time::Instant::now() >= expiry).then(|| {
            tracing::debug!("a live update stream ended with its token's expiry");
            Ok(Event::default().event("expired").data(SESSION_EXPIRED))
        })
    })
    .filter_map(futures::future::ready);
    let until_shutdown = until_expiry
        .chain(expired)
        .take_until(state.stopping.cancelled_owned())
        .map(move |event| {
            let _held_until_the_stream_ends = &slot;
            event
        });
    Ok(Sse::new(until_shutdown).keep_alive(KeepAlive::default()))
}

/// What the `expired` event says; the page shows it with a "Sign in again" link.
const SESSION_EXPIRED: &str = "your session has expired; sign in again";

/// How long from now until `instant` (zero when it has passed).
fn until(instant: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    (instant - chrono::Utc::now()).to_std().unwrap_or_default()
}
