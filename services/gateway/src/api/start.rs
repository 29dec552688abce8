//! Starting work from the page: uploads and Delete Client, for callers with the retry
//! role, forwarded to ingest with the caller's own bearer token. Ingest verifies it
//! again and takes the account, the user and the address to email from it, so the
//! gateway cannot start a job for anyone but the signed-in user.

mod recipient;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use recipient::Recipient;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The options of an upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The client whose products are uploaded (product uploads only).
    pub client_id: Option<String>,
    /// The user's file name, kept for display and the results file's name.
    pub file_name: Option<String>,
    /// `partial` (default) or `all-or-nothing`.
    pub mode: Option<String>,
    /// `create-or-update` (default), `create-only` or `update-only`.
    pub write: Option<String>,
    /// The file's character encoding when it is not UTF-8, e.g. `windows-1252` (as
    /// Excel on Windows saves CSV); a UTF-16 file with a byte-order mark needs none.
    pub encoding: Option<String>,
    /// `false`: nobody is emailed when the job ends; `true` (default): the signed-in
    /// user is, at their token's `email` address (when it has one).
    pub notify: Option<String>,
    /// The browser's IANA time zone (e.g. `Europe/Paris`) for the times in that email,
    /// used when the token has no `zoneinfo`.
    pub time_zone: Option<String>,
}

/// The options of a Delete Client.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct DeleteClientQuery {
    /// The client whose data is deleted.
    pub client_id: Option<String>,
    /// `true` to only report what would be deleted.
    pub dry_run: Option<String>,
    /// The client's name, typed by the user to confirm a deletion; required unless
    /// `dry_run=true`. The deletion fails, deleting nothing, when it is not the name.
    pub confirm_name: Option<String>,
    /// `false`: nobody is emailed when the job ends; `true` (default): the signed-in
    /// user is, at their token's `email` address (when it has one).
    pub notify: Option<String>,
    /// The browser's IANA time zone for the times in that email, used when the token
    /// has no `zoneinfo`.
    pub time_zone: Option<String>,
}

/// A job that was accepted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The new job's id.
    pub job_id: String,
    /// Its status: `new`.
    pub status: String,
}

/// Starts a Product Upload with the CSV file in the body.
#[utoipa::path(post, path = "/api/v1/jobs/product-upload", tag = "start", params(UploadQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn product_upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::Invalid(rejection.body_text()))?;
    let recipient = Recipient::of(&caller, query.notify.as_deref(), query.time_zone.as_deref())?;
    let options = [
        ("client_id", query.client_id),
        ("file_name", query.file_name),
        ("mode", query.mode),
        ("write", query.write),
        ("encoding", query.encoding),
    ];
    let started = Start { caller: &caller, headers: &headers, recipient: &recipient };
    forward(&state, started, "product-upload", &options, Some(body)).await
}

/// Starts a Warehouse Upload with the CSV file in the body.
#[utoipa::path(post, path = "/api/v1/jobs/warehouse-upload", tag = "start", params(UploadQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn warehouse_upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::Invalid(rejection.body_text()))?;
    let recipient = Recipient::of(&caller, query.notify.as_deref(), query.time_zone.as_deref())?;
    let options = [
        ("file_name", query.file_name),
        ("mode", query.mode),
        ("write", query.write),
        ("encoding", query.encoding),
    ];
    let started = Start { caller: &caller, headers: &headers, recipient: &recipient };
    forward(&state, started, "warehouse-upload", &options, Some(body)).await
}

/// Starts a Delete Client (or its dry run, which only reports what would be deleted and
/// names the client); a deletion needs the client's name typed to confirm, and is
/// refused while another deletion of the client is unfinished.
#[utoipa::path(post, path = "/api/v1/jobs/delete-client", tag = "start", params(DeleteClientQuery),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "client_locked: a deletion of the client (not a dry run) is New or In Progress; the message names it")))]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<DeleteClientQuery>, QueryRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::Invalid(rejection.body_text()))?;
    let recipient = Recipient::of(&caller, query.notify.as_deref(), query.time_zone.as_deref())?;
    let dry_run = query.dry_run.as_deref().map(str::trim) == Some("true");
    let confirm_name = query.confirm_name.filter(|name| !name.trim().is_empty());
    if !dry_run && confirm_name.is_none() {
        return Err(ApiError::Invalid(
            "type the client's name to confirm the deletion (confirm_name), or ask for a dry \
             run (dry_run=true)"
                .to_owned(),
        ));
    }
    let options = [
        ("client_id", query.client_id),
        ("dry_run", query.dry_run),
        ("confirm_name", confirm_name.filter(|_| !dry_run)),
    ];
    let started = Start { caller: &caller, headers: &headers, recipient: &recipient };
    forward(&state, started, "delete-client", &options, None).await
}

/// Who starts a job, as the gateway checked them.
struct Start<'a> {
    /// The verified caller.
    caller: &'a Caller,
    /// The request's headers, whose `Authorization` is forwarded.
    headers: &'a HeaderMap,
    /// Who is emailed.
    recipient: &'a Recipient,
}

async fn forward(
    state: &AppState,
    start: Start<'_>,
    job_type: &str,
    options: &[(&str, Option<String>)],
    body: Option<Body>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let url = format!("{}/v1/accounts/{}/jobs/{job_type}", state.ingest_url, start.caller.account);
    let mut query: Vec<(&str, &str)> =
        options.iter().filter_map(|(name, value)| Some((*name, value.as_deref()?))).collect();
    query.extend(start.recipient.query());
    let mut request = state.http.post(url).query(&query);
    // The caller's token, which the gateway has verified: ingest verifies it again and
    // takes the account, the user and the address to email from it.
    if let Some(authorization) = start.headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, authorization.clone());
    }
    if let Some(body) = body {
        request = request
            .header(header::CONTENT_TYPE, "text/csv")
            .body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let response = request.send().await.map_err(|error| {
        tracing::warn!(%error, "forwarding to ingest failed");
        ApiError::Unavailable("the upload service is unreachable; try again shortly".to_owned())
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::ACCEPTED {
        let accepted: Accepted = serde_json::from_str(&text).map_err(|error| {
            ApiError::Internal(format!("ingest answered 202 with an unexpected body: {error}"))
        })?;
        return Ok((StatusCode::ACCEPTED, Json(accepted)));
    }
    Err(ApiError::from_ingest(status.as_u16(), &text))
}
