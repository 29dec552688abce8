//! Why a registry request failed, and which code of the shared table
//! ([`ErrorCode`]) each reason answers with: the gRPC status carries the code word, so
//! callers tell refusals apart by it.

use bgjobs_domain::JobId;
use bgjobs_proto::ErrorCode;
use tonic::Status;

/// Why a gRPC request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message names the field and what is wrong with it.
    #[error("{0}")]
    InvalidArgument(String),
    /// No such job for the caller's account. A job of another account is reported the
    /// same way, so that ids of other tenants cannot be probed.
    #[error("job {0} not found")]
    JobNotFound(JobId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] bgjobs_database::Error),
}

impl Error {
    /// An invalid-argument error with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    /// The code of this error in the shared table.
    pub fn code(&self) -> ErrorCode {
        use bgjobs_database::Error as Store;
        match self {
            Self::InvalidArgument(_) => ErrorCode::InvalidRequest,
            Self::JobNotFound(_) => ErrorCode::NotFound,
            Self::Store(error) if error.is_transient() => ErrorCode::Unavailable,
            Self::Store(Store::Conflict(_)) => ErrorCode::AlreadyExists,
            Self::Store(Store::InvalidCursor | Store::InvalidInput(_)) => ErrorCode::InvalidRequest,
            Self::Store(Store::NotRetryable(_)) => ErrorCode::NotRetryable,
            Self::Store(Store::NotReplayable(_)) => ErrorCode::NotReplayable,
            Self::Store(
                Store::ClientLocked { .. }
                | Store::DeletionRunning { .. }
                | Store::ClientBeingDeleted { .. },
            ) => ErrorCode::ClientLocked,
            Self::Store(Store::ClientNotFound { .. }) => ErrorCode::ClientNotFound,
            Self::Store(
                Store::Superseded { .. } | Store::Overtaken { .. } | Store::TakenOver { .. },
            ) => ErrorCode::Superseded,
            // The registry writes no upload batches: one reaching it is a bug.
            Self::Store(
                Store::Database(_)
                | Store::Connect { .. }
                | Store::Corrupt(_)
                | Store::EarlierBatchNotCommitted,
            ) => ErrorCode::Internal,
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = error.code();
        let message = match (&error, code) {
            // The details of a database failure help operators, not callers: log them
            // here and answer with what the caller can do.
            (_, ErrorCode::Unavailable) => {
                tracing::warn!(error = %error, "job database unavailable");
                "the job database is unavailable; try again shortly".to_owned()
            }
            (_, ErrorCode::Internal) => {
                tracing::error!(error = %error, "request failed on an internal error");
                "internal error in the jobs registry; the details are in its log".to_owned()
            }
            // The cursor is the only request field the store judges: name it.
            (Error::Store(bgjobs_database::Error::InvalidCursor), _) => {
                format!("page_token: {error}")
            }
            _ => error.to_string(),
        };
        code.status(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_word_and_a_message_for_the_caller() {
        let job = JobId::new();
        let cases = [
            (
                Error::invalid("account_id is required"),
                ErrorCode::InvalidRequest,
                "account_id is required".to_owned(),
            ),
            (Error::JobNotFound(job), ErrorCode::NotFound, format!("job {job} not found")),
            (
                Error::Store(bgjobs_database::Error::Conflict("job id x is already in use".into())),
                ErrorCode::AlreadyExists,
                "conflict: job id x is already in use".to_owned(),
            ),
            (
                Error::Store(bgjobs_database::Error::ClientLocked {
                    client_id: "acme".into(),
                    delete_job: job,
                }),
                ErrorCode::ClientLocked,
                format!(
                    "client 'acme' is being deleted by job {job}; uploads for this client are \
                     refused until it finishes"
                ),
            ),
            (
                Error::Store(bgjobs_database::Error::DeletionRunning {
                    client_id: "acme".into(),
                    delete_job: job,
                }),
                ErrorCode::ClientLocked,
                format!(
                    "client 'acme' is already being deleted by job {job}; another deletion of \
                     it is refused until that one finishes (a dry run is accepted)"
                ),
            ),
            (
                Error::Store(bgjobs_database::Error::InvalidCursor),
                ErrorCode::InvalidRequest,
                format!("page_token: {}", bgjobs_database::Error::InvalidCursor),
            ),
            (
                Error::Store(bgjobs_database::Error::Corrupt("status is 'x'".into())),
                ErrorCode::Internal,
                "internal error in the jobs registry; the details are in its log".to_owned(),
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!(
                (status.code(), ErrorCode::of(&status), status.message()),
                (code.grpc_code(), Some(code), message.as_str())
            );
        }
    }
}
