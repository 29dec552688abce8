//! Retry: an Error job back to New on its next attempt, through ingest (which owns
//! publishing the job message again), for callers with the retry role. The caller's
//! token goes with the call: ingest checks it again and names its user in the log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use bgjobs_proto::v1::RetryJobRequest;

use super::jobs::job_id;
use super::model::JobView;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Retries an Error job; answers the job, now New on its next attempt.
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/retry", tag = "jobs",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the job is not in Error"),
        (status = 503, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(job_id_text): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job_id = job_id(&job_id_text)?;
    let request = RetryJobRequest {
        account_id: caller.account.to_string(),
        job_id: job_id.to_string(),
        actor: caller.name.clone(),
        reason: "from the Background Jobs page".to_owned(),
    };
    let mut request = tonic::Request::new(request);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if let Some(value) = authorization.and_then(|value| value.parse().ok()) {
        request.metadata_mut().insert("authorization", value);
    }
    let job = state
        .ingest
        .clone()
        .retry_job(request)
        .await
        .map_err(|status| ApiError::from_grpc("upload service", &status))?
        .into_inner()
        .job
        .ok_or_else(|| ApiError::Internal("ingest answered a retry without the job".to_owned()))?;
    tracing::info!(%job_id, account = %caller.account, user = %caller.user_id, "job retried");
    Ok(Json(JobView::new(job, &caller, state.stall_delta())))
}
