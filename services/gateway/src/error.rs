//! Why an API request failed: each reason is a code of the shared table
//! ([`ErrorCode`]: its word and HTTP status), answered as `{"error": {"code",
//! "message"}}` like every bgjobs HTTP API. A refusal of the registry or ingest keeps
//! the code word they gave.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bgjobs_proto::ErrorCode;
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
    /// The caller, or everyone together, has too many streams or requests open.
    #[error("{0}")]
    TooManyRequests(String),
    /// A service the gateway depends on cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The registry or ingest refused the request; their code and message are passed on.
    #[error("{message}")]
    Refused {
        /// Their code.
        code: ErrorCode,
        /// Their message.
        message: String,
    },
    /// A fault of the gateway; the details are in its log.
    #[error("{0}")]
    Internal(String),
}

impl From<bgjobs_auth::AuthError> for ApiError {
    fn from(error: bgjobs_auth::AuthError) -> Self {
        use bgjobs_auth::AuthError;
        match error {
            AuthError::Unauthenticated(message) => Self::Unauthenticated(message),
            AuthError::Forbidden(message) => Self::Forbidden(message),
            AuthError::Unavailable(message) => Self::Unavailable(message),
        }
    }
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
    /// A code word of the shared table, e.g. `unauthenticated`, `forbidden`,
    /// `not_found`, `invalid_request`, `not_retryable`, `client_locked`,
    /// `unavailable`, `internal` (the list is in `docs/architecture.md`).
    pub code: &'static str,
    /// A sentence saying what was wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// The answer for a job id that does not exist in the caller's account.
    pub fn job_not_found() -> Self {
        Self::NotFound("no such job".to_owned())
    }

    /// The code of this error in the shared table.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::InvalidRequest,
            Self::TooManyRequests(_) => ErrorCode::TooManyRequests,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Refused { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status and the code word of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, code.word())
    }

    /// A registry (or ingest gRPC) failure as the user should see it, by the code word
    /// the status carries. Not found is always "no such job", whatever the registry
    /// said, so nothing about other accounts can leak through a message. A status
    /// without a code word is a transport failure (unavailable) or a failure.
    pub fn from_grpc(service: &str, status: &tonic::Status) -> Self {
        match ErrorCode::of(status) {
            Some(ErrorCode::NotFound) => Self::job_not_found(),
            Some(ErrorCode::Unavailable) => Self::unreachable(service, status),
            Some(ErrorCode::Internal) => Self::failed(service, status),
            Some(code) => Self::Refused { code, message: status.message().to_owned() },
            None => match status.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                    Self::unreachable(service, status)
                }
                _ => Self::failed(service, status),
            },
        }
    }

    /// A refusal that ingest answered over HTTP with `status` and `body`: its code
    /// word and message when the body is a bgjobs error, its status otherwise.
    pub fn from_ingest(status: u16, body: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            code: String,
            message: String,
        }
        match serde_json::from_str::<Body>(body) {
            Ok(Body { error }) => {
                let code = ErrorCode::from_word(&error.code).unwrap_or(ErrorCode::Internal);
                Self::Refused { code, message: error.message }
            }
            Err(_) => {
                tracing::error!(status, body, "ingest answered without a bgjobs error body");
                Self::Internal(format!("the upload service answered {status}"))
            }
        }
    }

    fn unreachable(service: &str, status: &tonic::Status) -> Self {
        tracing::warn!(service, %status, "backend unreachable");
        Self::Unavailable(format!("the {service} is unreachable; try again shortly"))
    }

    fn failed(service: &str, status: &tonic::Status) -> Self {
        tracing::error!(service, %status, "backend failed");
        Self::Internal(format!("the {service} failed; the details are in the gateway's log"))
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
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("30"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_refusal_keeps_its_code_word_and_message() {
        let locked = ErrorCode::ClientLocked.status("client 'c' is being deleted");
        let error = ApiError::from_grpc("jobs registry", &locked);
        assert_eq!(error.status_and_code(), (StatusCode::CONFLICT, "client_locked"));
        assert_eq!(error.to_string(), "client 'c' is being deleted");
        let retried = ErrorCode::NotRetryable.status("job x is Completed; only Error jobs");
        let error = ApiError::from_grpc("jobs registry", &retried);
        assert_eq!(error.status_and_code(), (StatusCode::CONFLICT, "not_retryable"));
    }

    #[test]
    fn not_found_never_repeats_the_backend_s_message() {
        let status = ErrorCode::NotFound.status("job 123 of account other not found");
        let error = ApiError::from_grpc("jobs registry", &status);
        assert_eq!(error, ApiError::job_not_found());
    }

    #[test]
    fn a_status_without_a_code_word_is_unreachable_or_a_failure_never_a_refusal() {
        let down = ApiError::from_grpc("jobs registry", &tonic::Status::unavailable("refused"));
        assert_eq!(down.status_and_code().1, "unavailable");
        for status in [tonic::Status::unknown("h2 error"), tonic::Status::failed_precondition("?")]
        {
            let error = ApiError::from_grpc("jobs registry", &status);
            assert_eq!(error.status_and_code(), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        }
    }

    #[test]
    fn ingest_s_refusal_is_passed_on_with_its_code() {
        let body =
            r#"{"error":{"code":"not_csv_text","message":"the file is not a CSV text file: x"}}"#;
        let error = ApiError::from_ingest(415, body);
        assert_eq!(error.status_and_code(), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_csv_text"));
        assert_eq!(error.to_string(), "the file is not a CSV text file: x");
        let proxy = ApiError::from_ingest(502, "<html>Bad Gateway</html>");
        assert_eq!(proxy.status_and_code().1, "internal");
    }
}
