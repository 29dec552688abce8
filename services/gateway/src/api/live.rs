//! Live updates: `GET /api/v1/events`, a Server-Sent Events stream of the caller's
//! account's jobs as they change, fed by the registry's `WatchJobs`.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use bgjobs_proto::v1::WatchJobsRequest;
use futures::{Stream, StreamExt};

use super::model::JobView;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Server-Sent Events: `ready` once connected, then `job` (a job as `GET /api/v1/jobs`
/// shows it) for each change; `unavailable` with a message if the registry goes away,
/// after which the stream ends and the page reconnects. The stream also ends when the
/// gateway shuts down.
#[utoipa::path(get, path = "/api/v1/events", tag = "jobs",
    responses((status = 200, content_type = "text/event-stream", description = "job changes"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
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
    let until_shutdown = ready.chain(changes).take_until(state.stopping.cancelled_owned());
    Ok(Sse::new(until_shutdown).keep_alive(KeepAlive::default()))
}
