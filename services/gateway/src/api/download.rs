//! Downloading a results file: a signed link for a signed-in caller, then the file
//! itself streamed from S3 through the gateway for whoever holds a valid link.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bgjobs_domain::AccountId;
use bgjobs_domain::object_keys;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::io::ReaderStream;
use utoipa::{IntoParams, ToSchema};

use super::jobs::{fetch_job, job_id};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// A link to a results file.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadLink {
    /// Path and query of the file on this gateway; needs no bearer token.
    pub url: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// The name the file is saved under.
    pub file_name: String,
}

/// A signed link to the job's results file, valid for 10 minutes.
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/download-link", tag = "downloads",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = DownloadLink), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the job has no results file")))]
pub async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id_text): Path<String>,
) -> Result<Json<DownloadLink>, ApiError> {
    let job_id = job_id(&job_id_text)?;
    let job = fetch_job(&state, &caller, job_id).await?;
    if job.result_object_key.is_empty() {
        let message = "this job has no results file to download".to_owned();
        return Err(ApiError::Refused { code: bgjobs_proto::ErrorCode::NoResults, message });
    }
    let (url, expires_at) = state.links.link(&caller.account, job_id, Utc::now());
    Ok(Json(DownloadLink { url, expires_at, file_name: file_name(&job) }))
}

/// The saved file's name: `<original name without .csv>-results.csv`, or
/// `<type>-<job id>-results.csv` when the job had no file.
fn file_name(job: &bgjobs_proto::v1::Job) -> String {
    let stem = job
        .original_file_name
        .rsplit(['/', '\\'])
        .next()
        .map(|name| name.strip_suffix(".csv").or_else(|| name.strip_suffix(".CSV")).unwrap_or(name))
        .filter(|stem| !stem.trim().is_empty())
        .map(str::to_owned);
    let stem = stem.unwrap_or_else(|| {
        let job_type = bgjobs_proto::convert::job_type_from_proto(job.job_type)
            .map_or("job", bgjobs_domain::JobType::as_str);
        format!("{job_type}-{}", job.job_id)
    });
    format!("{stem}-results.csv")
}

/// A download link's query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// Unix time the link expires at.
    pub expires: i64,
    /// HMAC-SHA256 of account, job and expiry, in hex.
    pub signature: String,
}

/// The results file behind a signed link (made by `download-link`).
#[utoipa::path(get, path = "/api/v1/downloads/{account}/{job_id}", tag = "downloads",
    params(("account" = String, Path), ("job_id" = String, Path), LinkQuery),
    responses((status = 200, content_type = "text/csv", description = "the results file"),
        (status = 403, body = ErrorBody, description = "the link is not valid or has expired"),
        (status = 404, body = ErrorBody)))]
pub async fn file(
    State(state): State<AppState>,
    Path((account_text, job_id_text)): Path<(String, String)>,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let invalid = || ApiError::Forbidden("this download link is not valid".to_owned());
    let Query(query) = query.map_err(|_| invalid())?;
    let account = AccountId::parse(&account_text).map_err(|_| invalid())?;
    let job_id = job_id(&job_id_text).map_err(|_| invalid())?;
    state.links.check(&account, job_id, query.expires, &query.signature, Utc::now())?;

    // The link proves the account; the registry still scopes the lookup by it.
    let caller = Caller {
        user_id: String::new(),
        name: String::new(),
        account,
        can_retry: false,
        email: None,
        time_zone: None,
    };
    let job = fetch_job(&state, &caller, job_id).await?;
    if job.result_object_key.is_empty() {
        return Err(ApiError::NotFound("this job has no results file".to_owned()));
    }
    // The key is derived from the link's account and job, never taken from the job
    // record: whatever a record says, a link reads only its own job's file.
    let key = object_keys::results(&caller.account, job_id);
    if job.result_object_key != key {
        tracing::warn!(
            %job_id,
            account_id = %caller.account,
            recorded_key = ?job.result_object_key,
            "a job records a results key that is not its own; serving its own"
        );
    }
    let reader = state.objects.get_reader(&key).await.map_err(|error| {
        tracing::error!(%job_id, %error, "reading a results file failed");
        ApiError::Unavailable(
            "the results file cannot be read right now; try again shortly".to_owned(),
        )
    })?;
    let disposition = content_disposition(&file_name(&job));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        Body::from_stream(ReaderStream::new(reader)),
    )
        .into_response())
}

/// `attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>` (RFC 6266), so
/// every browser gets a safe name and modern ones the exact one.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_name_follows_the_uploaded_one() {
        let job = |name: &str| bgjobs_proto::v1::Job {
            job_id: "j1".into(),
            job_type: 1,
            original_file_name: name.into(),
            ..Default::default()
        };
        assert_eq!(file_name(&job("products.csv")), "products-results.csv");
        assert_eq!(file_name(&job("C:\\Users\\me\\spring.CSV")), "spring-results.csv");
        assert_eq!(file_name(&job("")), "product-upload-j1-results.csv");
    }

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        assert_eq!(
            content_disposition("prix été\".csv"),
            "attachment; filename=\"prix _t__.csv\"; filename*=UTF-8''prix%20%C3%A9t%C3%A9%22.csv"
        );
    }
}
