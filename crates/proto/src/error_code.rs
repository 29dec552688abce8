//! The one table of error codes: each reason a request of a bgjobs API can be refused
//! or fail, with its stable code word (for programs), its HTTP status and its gRPC
//! code. Ingest, the registry and the gateway all answer from it, and a refusal
//! crosses a gRPC hop by its code word (a `google.rpc.ErrorInfo` in the status
//! details, domain [`DOMAIN`]), never by guessing from the gRPC code alone.

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo` domain of bgjobs' code words.
pub const DOMAIN: &str = "bgjobs";

/// Why a request was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A field of the request is missing or malformed; the message names it.
    InvalidRequest,
    /// No usable credentials.
    Unauthenticated,
    /// Authenticated, without the right to do this.
    Forbidden,
    /// No such job in the caller's account (another account's job looks the same).
    NotFound,
    /// A job with this id exists with other contents.
    AlreadyExists,
    /// The job is not in a state that can be retried (only Error can).
    NotRetryable,
    /// The job's dead-lettered attempt cannot be replayed now.
    NotReplayable,
    /// The client is being deleted: no upload or second deletion for it now.
    ClientLocked,
    /// The client does not exist in the account.
    ClientNotFound,
    /// The work belongs to an attempt that a newer one replaced.
    Superseded,
    /// The job has no results file to download (not completed, or a type without one).
    NoResults,
    /// The uploaded file is empty.
    EmptyFile,
    /// The uploaded file is not text in the encoding named.
    NotCsvText,
    /// The uploaded file is over the size limit.
    FileTooLarge,
    /// The client stopped sending before the whole file arrived.
    UploadInterrupted,
    /// Too many requests or open streams of this caller, or of everyone; try again later.
    TooManyRequests,
    /// A live stream fell too far behind the changes it carries and was ended; open it
    /// again and read the current state.
    FellBehind,
    /// A service or store this request needs cannot be reached now; try again.
    Unavailable,
    /// A fault on the server side; the details are in its log.
    Internal,
}

impl ErrorCode {
    /// Every code, in the table's order.
    pub const ALL: [Self; 19] = [
        Self::InvalidRequest,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::AlreadyExists,
        Self::NotRetryable,
        Self::NotReplayable,
        Self::ClientLocked,
        Self::ClientNotFound,
        Self::Superseded,
        Self::NoResults,
        Self::EmptyFile,
        Self::NotCsvText,
        Self::FileTooLarge,
        Self::UploadInterrupted,
        Self::TooManyRequests,
        Self::FellBehind,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The table: code word, HTTP status, gRPC code.
    const fn row(self) -> (&'static str, u16, Code) {
        match self {
            Self::InvalidRequest => ("invalid_request", 400, Code::InvalidArgument),
            Self::Unauthenticated => ("unauthenticated", 401, Code::Unauthenticated),
            Self::Forbidden => ("forbidden", 403, Code::PermissionDenied),
            Self::NotFound => ("not_found", 404, Code::NotFound),
            Self::AlreadyExists => ("already_exists", 409, Code::AlreadyExists),
            Self::NotRetryable => ("not_retryable", 409, Code::FailedPrecondition),
            Self::NotReplayable => ("not_replayable", 409, Code::FailedPrecondition),
            Self::ClientLocked => ("client_locked", 409, Code::FailedPrecondition),
            Self::ClientNotFound => ("client_not_found", 409, Code::FailedPrecondition),
            Self::Superseded => ("superseded", 409, Code::FailedPrecondition),
            Self::NoResults => ("no_results", 409, Code::FailedPrecondition),
            Self::EmptyFile => ("empty_file", 400, Code::InvalidArgument),
            Self::NotCsvText => ("not_csv_text", 415, Code::InvalidArgument),
            Self::FileTooLarge => ("file_too_large", 413, Code::InvalidArgument),
            Self::UploadInterrupted => ("upload_interrupted", 400, Code::Cancelled),
            Self::TooManyRequests => ("too_many_requests", 429, Code::ResourceExhausted),
            Self::FellBehind => ("fell_behind", 503, Code::Aborted),
            Self::Unavailable => ("unavailable", 503, Code::Unavailable),
            Self::Internal => ("internal", 500, Code::Internal),
        }
    }

    /// The stable code word, e.g. `client_locked`.
    pub const fn word(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status an HTTP API answers with.
    pub const fn http_status(self) -> u16 {
        self.row().1
    }

    /// The gRPC code a gRPC API answers with.
    pub const fn grpc_code(self) -> Code {
        self.row().2
    }

    /// The code of `word`, if it is one.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.word() == word)
    }

    /// A gRPC status of this code with `message`, carrying the code word.
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        let details = ErrorDetails::with_error_info(self.word(), DOMAIN, []);
        tonic::Status::with_error_details(self.grpc_code(), message, details)
    }

    /// The code a bgjobs service put on `status`; `None` for a status without one
    /// (a transport failure, a proxy, a service of another kind).
    pub fn of(status: &tonic::Status) -> Option<Self> {
        let info = status.get_details_error_info()?;
        (info.domain == DOMAIN).then(|| Self::from_word(&info.reason)).flatten()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_word_and_is_found_by_it() {
        let mut words = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(words.insert(code.word()), "{code:?} repeats a word");
            assert_eq!(ErrorCode::from_word(code.word()), Some(code));
        }
        assert_eq!(ErrorCode::from_word("no_such_word"), None);
    }

    #[test]
    fn a_status_carries_its_code_word_across_a_hop() {
        let status = ErrorCode::ClientLocked.status("client 'c' is being deleted");
        assert_eq!(status.code(), Code::FailedPrecondition);
        // What the other side receives: the status as it travels (code, message, details).
        let received = tonic::Status::with_details(
            status.code(),
            status.message().to_owned(),
            status.details().to_vec().into(),
        );
        assert_eq!(ErrorCode::of(&received), Some(ErrorCode::ClientLocked));
        // A bare status of the same gRPC code is not taken for "client locked".
        assert_eq!(ErrorCode::of(&tonic::Status::failed_precondition("other")), None);
    }
}
