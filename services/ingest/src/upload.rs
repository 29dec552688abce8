//! `POST /v1/accounts/{account_id}/jobs/product-upload`: stream the file to S3,
//! register the job, publish its message, answer 202. The other uploads (see
//! `warehouse_upload.rs`) check their own query, then go through [`accept_body`].

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bgjobs_domain::object_keys;
use bgjobs_domain::{AccountId, JobId, JobStatus, JobType};
use bgjobs_object_store::ObjectMetadata;
use bgjobs_proto::convert::{job_status_from_proto, job_type_to_proto};
use bgjobs_proto::v1::{self, CreateJobRequest, CreateJobResponse, ReferenceIds};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tracing::Instrument;

use crate::Error;
use crate::body::{drain, read_prefix};
use crate::query::{Recipient, UploadQuery, UploadRequest};
use crate::state::AppState;
use crate::text::check_text;
use crate::user::User;

/// Header that may carry the file name when the query does not.
const FILE_NAME_HEADER: &str = "x-file-name";
/// Content type stored with every input file.
const CSV_CONTENT_TYPE: &str = "text/csv";

/// The answer to an accepted upload.
#[derive(Debug, Serialize)]
struct Accepted {
    job_id: String,
    status: &'static str,
    input_object_key: String,
}

/// An upload whose query is valid: what to register and publish once its file is stored.
pub(crate) struct Submission {
    /// The tenant the job belongs to.
    pub account: AccountId,
    /// What kind of upload it is.
    pub job_type: JobType,
    /// The user who started the upload.
    pub created_by: String,
    /// The user's file name, kept as metadata only.
    pub file_name: Option<String>,
    /// The job's parameters JSON.
    pub parameters_json: String,
    /// The job's reference ids (client, warehouse...).
    pub reference_ids: ReferenceIds,
    /// The file's encoding when the upload names one other than UTF-8.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// Who is emailed when the job ends; nobody when `None`.
    pub notify: Option<Recipient>,
}

/// The handler of a product upload.
pub(crate) async fn product_upload(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    user: Result<User, Error>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let submission =
        user.and_then(|user| Ok((user, query_of(query)?))).and_then(|(user, query)| {
            let request =
                UploadRequest::parse(&user, &account_id, query, file_name_header(&headers))?;
            let parameters_json = request.parameters_json();
            let UploadRequest { client_id, options } = request;
            let reference_ids =
                ReferenceIds { client_id, user_id: options.user_id, ..ReferenceIds::default() };
            Ok(Submission {
                parameters_json,
                account: options.account,
                job_type: JobType::ProductUpload,
                created_by: options.created_by,
                file_name: options.file_name,
                reference_ids,
                encoding: options.encoding,
                notify: options.notify,
            })
        });
    accept_body(&state, &account_id, submission, &headers, body).await
}

/// The query string, or a 400 naming what is wrong with it.
pub(crate) fn query_of<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| Error::invalid("query", rejection.body_text()))
}

/// The `X-File-Name` header, which may carry the file name when the query does not.
pub(crate) fn file_name_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(FILE_NAME_HEADER).and_then(|value| value.to_str().ok())
}

/// Streams `body` to S3 as the input of `submission`, registers and publishes the
/// job and answers 202; whatever a refused request did not read of its body is
/// drained, so the client sees the answer.
pub(crate) async fn accept_body(
    state: &AppState,
    account_id: &str,
    submission: Result<Submission, Error>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let mut body = body.into_data_stream();
    let result = match submission {
        Ok(submission) => accept(state, account_id, submission, headers, &mut body).await,
        Err(error) => Err(error),
    };
    if result.is_err() {
        drain(&mut body).await;
    }
    result
}

async fn accept<S>(
    state: &AppState,
    account_id: &str,
    request: Submission,
    headers: &HeaderMap,
    body: &mut S,
) -> Result<Response, Error>
where
    S: Stream<Item = Result<bytes::Bytes, axum::Error>> + Send + Unpin,
{
    refuse_declared_oversize(headers, state.max_upload_bytes)?;

    let job_id = JobId::new();
    let span = tracing::info_span!(
        "upload",
        account = %request.account,
        job_type = request.job_type.as_str(),
        %job_id,
        trace_id = tracing::field::Empty
    );
    bgjobs_telemetry::record_trace_id(&span);
    span.in_scope(|| tracing::info!("receiving the upload"));
    let accepted = store_register_publish(state, job_id, request, body).instrument(span).await?;

    let location = format!("/v1/accounts/{account_id}/jobs/{}", accepted.job_id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(accepted)).into_response())
}

async fn store_register_publish<S>(
    state: &AppState,
    job_id: JobId,
    request: Submission,
    body: &mut S,
) -> Result<Accepted, Error>
where
    S: Stream<Item = Result<bytes::Bytes, axum::Error>> + Send + Unpin,
{
    let input_object_key = object_keys::input(&request.account, job_id);
    store_input(state, &request, &input_object_key, body).await?;

    // Registering and publishing run in their own task: if the client goes away now,
    // the job is still registered and queued instead of being cut in half.
    let job = NewJob { job_id, request, input_object_key };
    let registering =
        tokio::spawn(register_and_publish(state.clone(), job).instrument(tracing::Span::current()));
    registering
        .await
        .map_err(|error| Error::Internal(format!("the registering task failed: {error}")))?
}

/// A Content-Length over the limit is refused before reading a byte.
fn refuse_declared_oversize(headers: &HeaderMap, limit: u64) -> Result<(), Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit => Err(Error::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Streams the body to S3 after checking that it starts like a text file; a refused
/// body leaves nothing behind (nothing is sent before the check, and an oversize
/// body's multipart upload is aborted by the store).
async fn store_input<S>(
    state: &AppState,
    request: &Submission,
    key: &str,
    body: &mut S,
) -> Result<u64, Error>
where
    S: Stream<Item = Result<bytes::Bytes, axum::Error>> + Send + Unpin,
{
    let prefix = read_prefix(body).await?;
    check_text(&prefix, request.encoding)?;
    let metadata = ObjectMetadata {
        content_type: CSV_CONTENT_TYPE.to_owned(),
        original_file_name: request.file_name.clone(),
    };
    let whole_body = futures::stream::iter([Ok(prefix.bytes)]).chain(body);
    let size =
        state.store.put_stream(key, whole_body, &metadata, state.max_upload_bytes).await.map_err(
            |error| match error {
                bgjobs_object_store::Error::TooLarge { limit } => Error::TooLarge { limit },
                bgjobs_object_store::Error::Body(cause) => Error::Interrupted(cause.to_string()),
                other => Error::Storage(other),
            },
        )?;
    tracing::info!(key, size, "input file stored");
    Ok(size)
}

/// Tries of one CreateJob that gets no answer, before the upload is answered 503.
const CREATE_JOB_TRIES: u32 = 3;
/// The wait before the second try; doubled before each further one.
const CREATE_JOB_FIRST_WAIT: Duration = Duration::from_millis(200);

/// CreateJob, tried again while the registry gives no answer (it is idempotent on the
/// job id, so a try whose answer was lost is answered the same the next time).
pub(crate) async fn create_job(
    state: &AppState,
    request: CreateJobRequest,
) -> Result<CreateJobResponse, tonic::Status> {
    let mut wait = CREATE_JOB_FIRST_WAIT;
    let mut tries = 1;
    loop {
        let mut registry = state.publishing.registry.clone();
        match registry.create_job(request.clone()).await {
            Ok(created) => return Ok(created.into_inner()),
            Err(status) if unanswered(&status) && tries < CREATE_JOB_TRIES => {
                tracing::warn!(job_id = request.job_id, %status, tries, "CreateJob unanswered; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Whether `status` leaves open that the registry registered the job: the call failed
/// on the way (unreachable, timed out, cut off) rather than being refused.
pub(crate) fn unanswered(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown
    )
}

/// Whether the call cannot have reached the registry: its connection was refused.
fn never_reached(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        let refused = error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        if refused {
            return true;
        }
        source = error.source();
    }
    false
}

/// A job whose input is stored, to register and publish.
struct NewJob {
    job_id: JobId,
    request: Submission,
    input_object_key: String,
}

/// CreateJob, then the job message with a publisher confirm. A stored file whose
/// job the registry refused, or could not be asked about (connection refused), is
/// deleted again; one whose CreateJob got no answer is kept (the job may be registered). Once registered the job is
/// accepted: if the broker refuses its message now, the sweeper publishes it later.
async fn register_and_publish(state: AppState, job: NewJob) -> Result<Accepted, Error> {
    let NewJob { job_id, request, input_object_key } = job;
    let job_type = job_type_to_proto(request.job_type) as i32;

    let create = CreateJobRequest {
        job_id: job_id.to_string(),
        account_id: request.account.to_string(),
        job_type,
        input_object_key: input_object_key.clone(),
        original_file_name: request.file_name.clone().unwrap_or_default(),
        parameters_json: request.parameters_json,
        reference_ids: Some(request.reference_ids),
        created_by: request.created_by,
        notify: request.notify.map(v1::Recipient::from),
    };
    let created = match create_job(&state, create).await {
        Ok(created) => created,
        Err(status) if unanswered(&status) && !never_reached(&status) => {
            // The registry may have registered the job and lost only its answer: the
            // file stays, and the sweeper publishes the job if it is registered.
            tracing::warn!(%job_id, %status, "CreateJob unanswered; the input is kept");
            return Err(Error::from_registry(status));
        }
        Err(status) => {
            // The registry refused the job: nothing refers to the file, remove it.
            if let Err(error) = state.store.delete(&input_object_key).await {
                tracing::warn!(%job_id, %error, "could not delete the input of an unregistered job");
            }
            return Err(Error::from_registry(status));
        }
    };
    let recorded = created.job.unwrap_or_default();
    let status = job_status_from_proto(recorded.status).unwrap_or(JobStatus::New);
    tracing::info!(%job_id, created = created.created, "job registered");
    state.publishing.publish_registered(&recorded).await;

    Ok(Accepted { job_id: job_id.to_string(), status: status.as_str(), input_object_key })
}
