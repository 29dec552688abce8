//! The errors of object storage, worded for the person who will read them.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body was longer than the caller's limit; nothing was stored.
    #[error("the file is larger than the limit of {}; nothing was stored", human_size(*limit))]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// No object exists at the key.
    #[error("no object at '{key}'")]
    NotFound {
        /// The key that was asked for.
        key: String,
    },
    /// Reading the body to upload failed (the client went away, a broken stream).
    #[error("reading the file to store failed: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The temporary file a part waits in could not be written or read.
    #[error("the temporary file of the part being stored failed: {0}")]
    Spool(#[source] std::io::Error),
    /// The S3 server refused the request or could not be reached.
    #[error("object storage {operation} failed: {message}")]
    S3 {
        /// The S3 operation, such as `PutObject`.
        operation: &'static str,
        /// What the SDK and the server said, with its causes.
        message: String,
    },
}

impl Error {
    /// An S3 error in plain words: the server's status, code and message for a
    /// refused request (the SDK's own `Display` says only "service error"), the
    /// whole chain of causes for a request that never got an answer.
    pub(crate) fn s3<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let mut message = format!("the server answered HTTP {status}");
                match (error.code(), error.message()) {
                    (Some(code), Some(text)) => message.push_str(&format!(" {code}: {text}")),
                    (Some(code), None) => message.push_str(&format!(" {code}")),
                    (None, Some(text)) => message.push_str(&format!(": {text}")),
                    (None, None) => {}
                }
                if status == 403 {
                    message.push_str(
                        "; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and the bucket's permissions",
                    );
                }
                message
            }
            // A connect or read timeout of the HTTP client (see `TimeoutConfig`).
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                format!("the server did not answer in time: {}", causes(&error))
            }
            SdkError::DispatchFailure(_) => {
                format!("could not reach the server: {}", causes(&error))
            }
            SdkError::TimeoutError(_) => {
                format!("the server did not answer in time: {}", causes(&error))
            }
            _ => causes(&error),
        };
        Self::S3 { operation, message }
    }
}

/// "outer: cause: root cause", without the Debug dump `DisplayErrorContext` appends.
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their source's text in their own; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// "8 MiB (8388608 bytes)": readable, and exact for whoever needs the number.
fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    let readable = match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => return format!("{b} bytes"),
    };
    format!("{readable} ({bytes} bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_names_the_limit_in_readable_units() {
        let error = Error::TooLarge { limit: 100 * 1024 * 1024 };
        assert_eq!(
            error.to_string(),
            "the file is larger than the limit of 100 MiB (104857600 bytes); nothing was stored"
        );
        assert!(Error::TooLarge { limit: 1000 }.to_string().contains("limit of 1000 bytes;"));
    }
}
