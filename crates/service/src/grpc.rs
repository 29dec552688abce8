//! A tonic server within [`Limits`]: each call and each HTTP/2 connection bounded by
//! tonic's own builder options, the TLS handshake by [`tls_incoming`], and calls beyond
//! the concurrency limit refused at once with UNAVAILABLE by tower's load shedding.

mod incoming;
mod metrics;
mod prefaced;

use tokio::net::TcpListener;
use tonic::Status;
use tonic::transport::Server;
use tower::limit::{ConcurrencyLimit, GlobalConcurrencyLimitLayer};
use tower::load_shed::LoadShed;
use tower::util::MapErr;
use tower::{BoxError, Layer};

use crate::Limits;

/// A server builder with `limits` set: calls not answered within `request_timeout`
/// end CANCELLED ("Timeout expired"; a streaming call counts only until it starts
/// streaming), at most `max_concurrent_streams` calls per connection, headers up to
/// `max_header_bytes`, and a keep-alive ping every `http2_keepalive` that must be
/// answered within as long again. Add [`Shedding`] to it, and serve it with
/// `serve_with_incoming_shutdown` on [`tls_incoming`].
pub fn server(limits: &Limits) -> Server {
    Server::builder()
        .timeout(limits.request_timeout)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .http2_keepalive_interval(Some(limits.http2_keepalive))
        .http2_keepalive_timeout(Some(limits.http2_keepalive))
}

pub use incoming::TlsIncoming;
pub use metrics::{Counted, CountedBody, GrpcMetrics};
pub use prefaced::Prefaced;

/// The TLS connections of `listener`, with `config` (which offers `h2`, and may take a
/// renewed certificate at every handshake), each handshake and the HTTP/2 preface
/// after it finished within `header_timeout` in a task of its own: a client that
/// dribbles its handshake, or sends nothing after it, is disconnected and holds up no
/// one.
pub fn tls_incoming(
    listener: TcpListener,
    config: rustls::ServerConfig,
    limits: &Limits,
) -> TlsIncoming {
    TlsIncoming::new(listener, config, limits.header_timeout)
}

/// Calls beyond `max_concurrent_requests` (of every connection together) are
/// refused at once with UNAVAILABLE, never queued.
#[derive(Debug, Clone)]
pub struct Shedding {
    limit: GlobalConcurrencyLimitLayer,
}

impl Shedding {
    /// Sheds calls beyond `limits.max_concurrent_requests`.
    pub fn new(limits: &Limits) -> Self {
        Self { limit: GlobalConcurrencyLimitLayer::new(limits.max_concurrent_requests) }
    }
}

impl<S> Layer<S> for Shedding {
    type Service = MapErr<LoadShed<ConcurrencyLimit<S>>, fn(BoxError) -> BoxError>;

    fn layer(&self, inner: S) -> Self::Service {
        MapErr::new(LoadShed::new(self.limit.layer(inner)), overloaded_is_unavailable)
    }
}

/// tonic would answer RESOURCE_EXHAUSTED "for the connection"; the limit is the
/// server's, and the condition passes: UNAVAILABLE, which clients retry.
fn overloaded_is_unavailable(error: BoxError) -> BoxError {
    if error.is::<tower::load_shed::error::Overloaded>() {
        tracing::warn!("gRPC call shed: the server is at its concurrency limit");
        return Box::new(Status::unavailable(
            "the server is handling its limit of concurrent calls; try again in a moment",
        ));
    }
    error
}
