//! Why a request failed, and how each reason is answered: a code of the shared table
//! ([`ErrorCode`]: its word for programs, its HTTP status) and a plain sentence for
//! people, as `{"error": {"code", "message", "field"}}` like every bgjobs HTTP API.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bgjobs_proto::ErrorCode;
use serde::Serialize;

/// Everything that can go wrong with a request to ingest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path or query value is missing or malformed; `message` names the field.
    #[error("{message}")]
    InvalidField {
        /// The field, e.g. `client_id`.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The body had no bytes.
    #[error("the file is empty")]
    EmptyFile,
    /// The first bytes of the body are not text in the encoding the upload names.
    #[error("the file is not a CSV text file: {reason}")]
    NotCsvText {
        /// What the file looks like instead, and how to send it.
        reason: String,
    },
    /// The body is longer than the configured limit.
    #[error("the file is larger than the {} limit", human_size(*limit))]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The client stopped sending before the body was complete.
    #[error("the upload was interrupted before the whole file arrived: {0}")]
    Interrupted(String),
    /// The object store failed.
    #[error("storing the file failed: {0}")]
    Storage(#[source] bgjobs_object_store::Error),
    /// The jobs registry could not be reached in time.
    #[error("the jobs registry is unavailable: {0}")]
    RegistryUnavailable(#[source] tonic::Status),
    /// The jobs registry refused the job as invalid.
    #[error("the jobs registry refused the job: {}", .0.message())]
    RegistryRefused(#[source] tonic::Status),
    /// The jobs registry refused the job because its client is being deleted (the
    /// per-client lock); the status message names the Delete Client job.
    #[error("the jobs registry refused the job: {}", .0.message())]
    ClientLocked(#[source] tonic::Status),
    /// The jobs registry failed in another way.
    #[error("the jobs registry failed: {0}")]
    Registry(#[source] tonic::Status),
    /// The caller proved no bgjobs identity (no client certificate of the authority),
    /// or no user (no valid bearer token) where a route starts a job.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's identity may not call the route (the message names who may), or
    /// the user lacks the role or works in another account.
    #[error("{0}")]
    Forbidden(String),
    /// The identity provider's keys cannot be fetched just now, so no token can be
    /// checked.
    #[error("{0}")]
    TokenKeysUnavailable(String),
    /// A bug: something that should not happen did.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<bgjobs_auth::AuthError> for Error {
    fn from(error: bgjobs_auth::AuthError) -> Self {
        use bgjobs_auth::AuthError;
        match error {
            AuthError::Unauthenticated(message) => Self::Unauthenticated(message),
            AuthError::Forbidden(message) => Self::Forbidden(message),
            AuthError::Unavailable(message) => Self::TokenKeysUnavailable(message),
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong, for programs (`code`, `field`) and for people (`message`).
#[derive(Debug, Serialize)]
struct ErrorDetail {
    code: &'static str,
    message: String,
    /// The request field at fault, for `invalid_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl Error {
    /// A bad path or query value.
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField { field, message: message.into() }
    }

    /// A gRPC error of the registry, sorted by the code word it carries; a status
    /// without one is unavailable (a transport failure) or a failure, never a refusal.
    pub(crate) fn from_registry(status: tonic::Status) -> Self {
        use tonic::Code;
        match ErrorCode::of(&status) {
            Some(ErrorCode::ClientLocked) => Self::ClientLocked(status),
            Some(ErrorCode::Unavailable) => Self::RegistryUnavailable(status),
            Some(ErrorCode::Internal) => Self::Registry(status),
            Some(_) => Self::RegistryRefused(status),
            None => match status.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                    Self::RegistryUnavailable(status)
                }
                _ => Self::Registry(status),
            },
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The code of this error in the shared table.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidField { .. } => ErrorCode::InvalidRequest,
            Self::EmptyFile => ErrorCode::EmptyFile,
            Self::NotCsvText { .. } => ErrorCode::NotCsvText,
            Self::TooLarge { .. } => ErrorCode::FileTooLarge,
            Self::Interrupted(_) => ErrorCode::UploadInterrupted,
            Self::Storage(_) | Self::RegistryUnavailable(_) | Self::TokenKeysUnavailable(_) => {
                ErrorCode::Unavailable
            }
            Self::ClientLocked(_) => ErrorCode::ClientLocked,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            // The registry's own word when it gave one (not_found, not_retryable...).
            Self::RegistryRefused(status) => {
                ErrorCode::of(status).unwrap_or(ErrorCode::InvalidRequest)
            }
            Self::Registry(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The request field at fault, if one is.
    fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The sentence shown to the user: what went wrong and what to do. Details of
    /// server-side failures stay in the logs.
    pub fn user_message(&self) -> String {
        match self {
            Self::InvalidField { message, .. } => message.clone(),
            Self::EmptyFile => "the file is empty; upload a CSV file with a header row".to_owned(),
            Self::NotCsvText { .. } => self.to_string(),
            Self::TooLarge { .. } => self.to_string(),
            Self::Interrupted(_) => {
                "the upload was interrupted before the whole file arrived; upload it again"
                    .to_owned()
            }
            Self::Storage(_) => {
                "the file could not be stored right now; try again in a moment".to_owned()
            }
            Self::RegistryUnavailable(_) => {
                "the jobs registry is not reachable right now; try again in a moment".to_owned()
            }
            Self::Unauthenticated(reason)
            | Self::Forbidden(reason)
            | Self::TokenKeysUnavailable(reason) => reason.clone(),
            Self::RegistryRefused(status) | Self::ClientLocked(status) => {
                status.message().to_owned()
            }
            Self::Registry(_) | Self::Internal(_) => {
                "something went wrong on our side; try again, and contact support if it persists"
                    .to_owned()
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, code = %self.code(), "request failed");
        } else {
            tracing::info!(error = %self, code = %self.code(), "request refused");
        }
        let detail = ErrorDetail {
            code: self.code().word(),
            message: self.user_message(),
            field: self.field(),
        };
        let body = ErrorBody { error: detail };
        (status, Json(body)).into_response()
    }
}

/// "1 GiB", "512 KiB", "1000 bytes": the limit as people write it.
fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(size, _)| bytes >= *size && bytes.is_multiple_of(*size))
        .map(|(size, unit)| format!("{} {unit}", bytes / size))
        .unwrap_or_else(|| format!("{bytes}-byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_limit_is_written_as_people_write_it() {
        assert_eq!(
            Error::TooLarge { limit: 1 << 30 }.user_message(),
            "the file is larger than the 1 GiB limit"
        );
        assert_eq!(
            Error::TooLarge { limit: 1024 }.user_message(),
            "the file is larger than the 1 KiB limit"
        );
        assert_eq!(
            Error::TooLarge { limit: 1000 }.user_message(),
            "the file is larger than the 1000-byte limit"
        );
    }

    #[test]
    fn each_error_has_its_status_and_code() {
        let cases = [
            (Error::invalid("client_id", "x"), 400, "invalid_request"),
            (Error::EmptyFile, 400, "empty_file"),
            (Error::NotCsvText { reason: "it contains NUL bytes".to_owned() }, 415, "not_csv_text"),
            (Error::TooLarge { limit: 1 }, 413, "file_too_large"),
            (Error::from_registry(tonic::Status::unavailable("down")), 503, "unavailable"),
            (Error::from_registry(ErrorCode::InvalidRequest.status("bad")), 400, "invalid_request"),
            (Error::from_registry(ErrorCode::NotFound.status("no such job")), 404, "not_found"),
            (Error::from_registry(tonic::Status::internal("bug")), 500, "internal"),
            (
                Error::from_registry(ErrorCode::ClientLocked.status("client 'c' is being deleted")),
                409,
                "client_locked",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
            assert_eq!(error.code().word(), code);
        }
    }

    #[test]
    fn a_precondition_without_a_code_word_is_not_taken_for_a_locked_client() {
        let error = Error::from_registry(tonic::Status::failed_precondition("something else"));
        assert_eq!((error.status().as_u16(), error.code()), (500, ErrorCode::Internal));
    }

    #[test]
    fn server_side_details_are_not_shown_to_users() {
        let error = Error::from_registry(tonic::Status::internal("relation jobs does not exist"));
        assert!(!error.user_message().contains("relation"));
    }
}
