//! Reading jobs: the caller, the list with its filters, one job with its log.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use bgjobs_domain::{JobId, JobStatus, JobType};
use bgjobs_proto::convert::{job_status_to_proto, job_type_to_proto, timestamp};
use bgjobs_proto::v1::{GetJobRequest, ListJobEventsRequest, ListJobsRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{JobDetails, JobPage, JobView, LogLine};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The signed-in user, as the page needs to know them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user's id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// The account everything is scoped to.
    pub account: String,
    /// Whether the user may retry jobs and start uploads and deletions.
    pub can_retry: bool,
    /// Where the emails about the jobs the user starts go (the token's `email`); null
    /// when the token has no valid address, and nobody is emailed.
    pub email: Option<String>,
    /// An In Progress job silent for longer than this is shown as stalled.
    pub stall_threshold_secs: u64,
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/v1/me", tag = "jobs",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Json<Me> {
    Json(Me {
        user_id: caller.user_id,
        name: caller.name,
        account: caller.account.to_string(),
        can_retry: caller.can_retry,
        email: caller.email,
        stall_threshold_secs: state.stall_threshold.as_secs(),
    })
}

/// The list's filters and page.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Comma-separated statuses: `new`, `in_progress`, `completed`, `error`.
    pub status: Option<String>,
    /// Comma-separated types: `product-upload`, `warehouse-upload`, `delete-client`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// Case-insensitive part of the creator's name.
    pub created_by: Option<String>,
    /// Created at or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Created before this instant (RFC 3339).
    pub to: Option<String>,
    /// Jobs per page, 1 to 200 (default 50).
    pub page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// The account's jobs, newest first, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<JobPage>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::Invalid(rejection.body_text()))?;
    let request = list_request(&caller, query)?;
    let response = state
        .registry
        .clone()
        .list_jobs(request)
        .await
        .map_err(|status| ApiError::from_grpc("jobs registry", &status))?
        .into_inner();
    let stall_after = state.stall_delta();
    Ok(Json(JobPage {
        jobs: response
            .jobs
            .into_iter()
            .map(|job| JobView::new(job, &caller, stall_after))
            .collect(),
        next_page_token: (!response.next_page_token.is_empty()).then_some(response.next_page_token),
    }))
}

/// The registry request for `caller`'s list with `query`'s filters, or why they are
/// not valid.
pub fn list_request(caller: &Caller, query: ListQuery) -> Result<ListJobsRequest, ApiError> {
    let statuses = comma_list(query.status.as_deref())
        .map(|text| {
            text.parse::<JobStatus>().map(|status| job_status_to_proto(status) as i32).map_err(
                |_| {
                    ApiError::Invalid(format!(
                        "status '{text}' is not known; use new, in_progress, completed or error"
                    ))
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let job_types = comma_list(query.job_type.as_deref())
        .map(|text| {
            text.parse::<JobType>().map(|job_type| job_type_to_proto(job_type) as i32).map_err(|_| {
                ApiError::Invalid(format!(
                    "type '{text}' is not known; use product-upload, warehouse-upload or delete-client"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let from = instant("from", query.from.as_deref())?;
    let to = instant("to", query.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError::Invalid("the From date must be before the To date".to_owned()));
    }
    if let Some(size) = query.page_size
        && !(1..=200).contains(&size)
    {
        return Err(ApiError::Invalid(format!("page_size {size} is not from 1 to 200")));
    }
    Ok(ListJobsRequest {
        account_id: caller.account.to_string(),
        statuses,
        job_types,
        created_by: query.created_by.unwrap_or_default().trim().to_owned(),
        created_from: from.map(timestamp),
        created_to: to.map(timestamp),
        page_size: query.page_size.unwrap_or(0),
        page_token: query.page_token.unwrap_or_default(),
    })
}

fn comma_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or_default().split(',').map(str::trim).filter(|part| !part.is_empty())
}

fn instant(name: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::Invalid(format!(
                    "{name} '{text}' is not a date and time such as 2025-01-31T00:00:00Z"
                ))
            }),
    }
}

/// A job id from the path; a malformed one is "no such job" like any other unknown id.
pub fn job_id(text: &str) -> Result<JobId, ApiError> {
    text.parse().map_err(|_| ApiError::job_not_found())
}

/// The job `job_id` of the caller's account, as the registry has it.
pub async fn fetch_job(
    state: &AppState,
    caller: &Caller,
    job_id: JobId,
) -> Result<bgjobs_proto::v1::Job, ApiError> {
    let request =
        GetJobRequest { account_id: caller.account.to_string(), job_id: job_id.to_string() };
    state
        .registry
        .clone()
        .get_job(request)
        .await
        .map_err(|status| ApiError::from_grpc("jobs registry", &status))?
        .into_inner()
        .job
        .ok_or_else(|| ApiError::Internal("the jobs registry answered without a job".to_owned()))
}

/// One job with its message log.
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobDetails), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn details(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id_text): Path<String>,
) -> Result<Json<JobDetails>, ApiError> {
    let job_id = job_id(&job_id_text)?;
    let job = fetch_job(&state, &caller, job_id).await?;
    let request =
        ListJobEventsRequest { account_id: caller.account.to_string(), job_id: job_id.to_string() };
    let entries = state
        .registry
        .clone()
        .list_job_events(request)
        .await
        .map_err(|status| ApiError::from_grpc("jobs registry", &status))?
        .into_inner()
        .entries;
    Ok(Json(JobDetails {
        job: JobView::new(job, &caller, state.stall_delta()),
        log: entries.into_iter().map(LogLine::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use bgjobs_domain::AccountId;

    use super::*;

    fn caller() -> Caller {
        Caller {
            user_id: "u".into(),
            name: "U".into(),
            account: AccountId::parse("acct").expect("valid"),
            can_retry: false,
            email: None,
            time_zone: None,
        }
    }

    #[test]
    fn filters_become_a_registry_request_in_the_callers_account() {
        let query = ListQuery {
            status: Some("error, in_progress".into()),
            job_type: Some("delete-client".into()),
            created_by: Some(" vera ".into()),
            from: Some("2025-01-01T00:00:00+01:00".into()),
            to: Some("2025-01-02T00:00:00Z".into()),
            page_size: Some(20),
            page_token: None,
        };
        let request = list_request(&caller(), query).expect("valid");
        assert_eq!(request.account_id, "acct");
        assert_eq!(request.statuses.len(), 2);
        assert_eq!(request.job_types, vec![job_type_to_proto(JobType::DeleteClient) as i32]);
        assert_eq!(request.created_by, "vera");
        assert_eq!(request.created_from.map(|t| t.seconds), Some(1_735_686_000));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let cases = [
            (ListQuery { status: Some("done".into()), ..Default::default() }, "status 'done'"),
            (ListQuery { job_type: Some("x".into()), ..Default::default() }, "type 'x'"),
            (
                ListQuery { from: Some("yesterday".into()), ..Default::default() },
                "from 'yesterday'",
            ),
            (
                ListQuery {
                    from: Some("2025-01-02T00:00:00Z".into()),
                    to: Some("2025-01-01T00:00:00Z".into()),
                    ..Default::default()
                },
                "must be before",
            ),
            (ListQuery { page_size: Some(0), ..Default::default() }, "page_size 0"),
        ];
        for (query, expected) in cases {
            let error = list_request(&caller(), query).expect_err(expected);
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
