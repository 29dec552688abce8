//! Why a registry request failed, and the one table that maps each reason to a gRPC status.

use bgjobs_domain::JobId;
use tonic::{Code, Status};

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

    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        use bgjobs_database::Error as Store;
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::JobNotFound(_) => Code::NotFound,
            Self::Store(error) if error.is_transient() => Code::Unavailable,
            Self::Store(Store::Conflict(_)) => Code::AlreadyExists,
            Self::Store(Store::InvalidCursor | Store::InvalidInput(_)) => Code::InvalidArgument,
            Self::Store(
                Store::NotRetryable(_)
                | Store::NotReplayable(_)
                | Store::ClientLocked { .. }
                | Store::ClientBeingDeleted { .. }
                | Store::ClientNotFound { .. }
                | Store::Superseded { .. }
                | Store::Overtaken { .. },
            ) => Code::FailedPrecondition,
            Self::Store(Store::Database(_) | Store::Corrupt(_)) => Code::Internal,
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = error.code();
        let message = match (&error, code) {
            // The details of a database failure help operators, not callers: log them
            // here and answer with what the caller can do.
            (_, Code::Unavailable) => {
                tracing::warn!(error = %error, "job database unavailable");
                "the job database is unavailable; try again shortly".to_owned()
            }
            (_, Code::Internal) => {
                tracing::error!(error = %error, "request failed on an internal error");
                "internal error in the jobs registry; the details are in its log".to_owned()
            }
            // The cursor is the only request field the store judges: name it.
            (Error::Store(bgjobs_database::Error::InvalidCursor), _) => {
                format!("page_token: {error}")
            }
            _ => error.to_string(),
        };
        Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_and_a_message_for_the_caller() {
        let job = JobId::new();
        let cases = [
            (
                Error::invalid("account_id is required"),
                Code::InvalidArgument,
                "account_id is required".to_owned(),
            ),
            (Error::JobNotFound(job), Code::NotFound, format!("job {job} not found")),
            (
                Error::Store(bgjobs_database::Error::Conflict("job id x is already in use".into())),
                Code::AlreadyExists,
                "conflict: job id x is already in use".to_owned(),
            ),
            (
                Error::Store(bgjobs_database::Error::ClientLocked {
                    client_id: "acme".into(),
                    delete_job: job,
                }),
                Code::FailedPrecondition,
                format!(
                    "client 'acme' is being deleted by job {job}; uploads for this client are \
                     refused until it finishes"
                ),
            ),
            (
                Error::Store(bgjobs_database::Error::InvalidCursor),
                Code::InvalidArgument,
                format!("page_token: {}", bgjobs_database::Error::InvalidCursor),
            ),
            (
                Error::Store(bgjobs_database::Error::Corrupt("status is 'x'".into())),
                Code::Internal,
                "internal error in the jobs registry; the details are in its log".to_owned(),
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message.as_str()));
        }
    }
}
