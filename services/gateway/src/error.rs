//! Why an API request failed: one table from each reason to an HTTP status and a
//! plain JSON body `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;
use utoipa::ToSchema;

/// Why a request could not be served; the message is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No usable sign-in (missing, malformed, expired or foreign token).
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, without the role this needs.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing in the caller's account (another account's looks the same).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The request is well-formed but the job is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// A service the gateway depends on cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// Ingest refused a forwarded request; its status and message are passed on.
    #[error("{message}")]
    Upstream {
        /// Ingest's HTTP status.
        status: StatusCode,
        /// Ingest's message.
        message: String,
    },
    /// A fault of the gateway; the details are in its log.
    #[error("{0}")]
    Internal(String),
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthenticated`, `forbidden`, `not_found`, `invalid_request`, `conflict`,
    /// `unavailable` or `internal`.
    pub code: &'static str,
    /// A sentence saying what was wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// The answer for a job id that does not exist in the caller's account.
    pub fn job_not_found() -> Self {
        Self::NotFound("no such job".to_owned())
    }

    /// The HTTP status and the code word of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Upstream { status, .. } => (*status, upstream_code(*status)),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// A registry (or ingest gRPC) failure as the user should see it. NOT_FOUND is
    /// always "no such job", whatever the registry said, so nothing about other
    /// accounts can leak through a message.
    pub fn from_grpc(service: &str, status: &tonic::Status) -> Self {
        match status.code() {
            Code::NotFound => Self::job_not_found(),
            Code::InvalidArgument => Self::Invalid(status.message().to_owned()),
            Code::FailedPrecondition | Code::AlreadyExists => {
                Self::Conflict(status.message().to_owned())
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled => {
                tracing::warn!(service, %status, "backend unreachable");
                Self::Unavailable(format!("the {service} is unreachable; try again shortly"))
            }
            _ => {
                tracing::error!(service, %status, "backend failed");
                Self::Internal(format!(
                    "the {service} failed; the details are in the gateway's log"
                ))
            }
        }
    }
}

fn upstream_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "not_found",
        409 => "conflict",
        400..=499 => "invalid_request",
        503 => "unavailable",
        _ => "internal",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ErrorBody { error: ErrorDetail { code, message: self.to_string() } };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
