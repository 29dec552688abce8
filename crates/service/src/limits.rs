//! The bounds every bgjobs server keeps, whatever its clients do: how long a client
//! may take to send a request's headers, how long an ordinary request may take, how
//! long an upload may stall, how many requests are served at once, how large headers
//! and small bodies may be, and how HTTP/2 connections are kept in check.

use std::time::Duration;

use bgjobs_config::values::{Count, Seconds, Size};

bgjobs_config::section! {
    /// The bounds of the service's HTTP and gRPC servers.
    pub struct ServerLimits {
        /// Seconds a client has to send a request's headers (HTTP) or complete the TLS
        /// handshake (gRPC, ingest's HTTPS) before the connection is closed; an idle
        /// HTTP keep-alive connection is closed after as long.
        "BGJOBS_HEADER_TIMEOUT_SECS" => header_timeout: Seconds<1, 300> = "10";
        /// Seconds an ordinary request may take to be answered before it is refused
        /// (HTTP 503 `unavailable`, gRPC CANCELLED). Live update streams and WatchJobs
        /// count only until they start streaming; uploads have
        /// BGJOBS_BODY_IDLE_TIMEOUT_SECS instead.
        "BGJOBS_REQUEST_TIMEOUT_SECS" => request_timeout: Seconds<1, 3600> = "30";
        /// Seconds an upload's body may send nothing before the upload is refused as
        /// interrupted; an upload that keeps sending may take as long as it needs.
        "BGJOBS_BODY_IDLE_TIMEOUT_SECS" => body_idle_timeout: Seconds<1, 3600> = "30";
        /// Requests one server of the process handles at once; more are refused at
        /// once (HTTP 503 with Retry-After, gRPC UNAVAILABLE), never queued.
        "BGJOBS_MAX_CONCURRENT_REQUESTS" => max_concurrent_requests: Count<1, 100000> = "512";
        /// Largest request headers (HTTP/1 head, HTTP/2 header list); larger ones are
        /// refused (HTTP 431). At least 8KiB is used.
        "BGJOBS_MAX_HEADER_BYTES" => max_header_bytes: Size = "64KiB";
        /// Largest body of a request that is not an upload (JSON and forms); larger ones
        /// are refused (HTTP 413).
        "BGJOBS_MAX_REQUEST_BODY_BYTES" => max_request_body_bytes: Size = "256KiB";
        /// Concurrent HTTP/2 streams (gRPC calls) one connection may open.
        "BGJOBS_MAX_CONCURRENT_STREAMS" => max_concurrent_streams: Count<1, 10000> = "200";
        /// Seconds between the HTTP/2 pings a gRPC server sends on each connection; a
        /// connection whose peer answers no ping within as long again is closed.
        "BGJOBS_HTTP2_KEEPALIVE_SECS" => http2_keepalive: Seconds<1, 3600> = "30";
    }
}

/// The bounds of one server, as its set-up uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send the request's headers, or to complete the TLS handshake.
    pub header_timeout: Duration,
    /// Time to answer an ordinary request.
    pub request_timeout: Duration,
    /// Time an upload's body may send nothing.
    pub body_idle_timeout: Duration,
    /// Requests handled at once by one server.
    pub max_concurrent_requests: usize,
    /// Largest request headers in bytes.
    pub max_header_bytes: usize,
    /// Largest body of a request that is not an upload, in bytes.
    pub max_request_body_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Interval of HTTP/2 keep-alive pings, and how long one may go unanswered.
    pub http2_keepalive: Duration,
}

/// hyper's smallest read buffer (it refuses less): headers are never limited below it.
const SMALLEST_HEADER_LIMIT: usize = 8 * 1024;

impl From<&ServerLimits> for Limits {
    fn from(section: &ServerLimits) -> Self {
        let bytes = |size: Size| usize::try_from(size.get()).unwrap_or(usize::MAX);
        Self {
            header_timeout: section.header_timeout.get(),
            request_timeout: section.request_timeout.get(),
            body_idle_timeout: section.body_idle_timeout.get(),
            max_concurrent_requests: usize::try_from(section.max_concurrent_requests.get())
                .unwrap_or(usize::MAX),
            max_header_bytes: bytes(section.max_header_bytes).max(SMALLEST_HEADER_LIMIT),
            max_request_body_bytes: bytes(section.max_request_body_bytes),
            max_concurrent_streams: u32::try_from(section.max_concurrent_streams.get())
                .unwrap_or(u32::MAX),
            http2_keepalive: section.http2_keepalive.get(),
        }
    }
}

impl Default for Limits {
    /// The declared defaults.
    fn default() -> Self {
        use bgjobs_config::{Environment, Load};
        let unset = Environment::from_pairs::<&str, &str>([]);
        match ServerLimits::load(&unset) {
            Ok(section) => Self::from(&section),
            Err(error) => unreachable!("the declared defaults are valid: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_production_sane() {
        let limits = Limits::default();
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.request_timeout, Duration::from_secs(30));
        assert_eq!(limits.max_concurrent_requests, 512);
        assert_eq!(limits.max_header_bytes, 64 * 1024);
    }
}
