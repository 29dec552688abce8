//! Serving an axum router within [`Limits`]: hyper's HTTP/1.1 connection builder
//! with a header read timeout and a header size limit, and tower layers that shed
//! requests beyond the concurrency limit, time out ordinary requests, time out
//! uploads whose body stalls and limit small bodies.
//!
//! The servers speak HTTP/1.1 only: the gateway sits behind an ingress, ingest's TLS
//! offers only `http/1.1`, and an HTTP/2 connection's preface has no read timeout.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, Layer};
use tower_http::timeout::TimeoutBody;

use crate::Limits;

/// Seconds a refused client is told to wait before trying again (Retry-After).
const RETRY_AFTER_SECS: &str = "1";

/// Which requests are uploads: their body streams for as long as it progresses, so
/// they get the body idle timeout instead of the request timeout.
pub type IsUpload = fn(&Request) -> bool;

/// No request is an upload.
pub fn no_uploads(_: &Request) -> bool {
    false
}

/// `router` within `limits`: requests beyond `max_concurrent_requests` answered 503
/// with Retry-After at once, ordinary requests answered 503 when not answered within
/// `request_timeout`, uploads (`is_upload`) refused when their body sends nothing for
/// `body_idle_timeout`, and bodies read whole (JSON, text) limited to
/// `max_request_body_bytes` (413). Errors use the services' JSON shape
/// `{"error": {"code", "message"}}`.
///
/// The limits apply to the routes `router` has; probes merged afterwards are not
/// shed, so that a busy replica is not taken for a dead one and restarted.
pub fn bounded<S>(router: Router<S>, limits: &Limits, is_upload: IsUpload) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let timeouts = Timeouts {
        request: limits.request_timeout,
        body_idle: limits.body_idle_timeout,
        is_upload,
    };
    let max_concurrent = limits.max_concurrent_requests;
    router
        .layer(axum::middleware::from_fn_with_state(timeouts, time_limits))
        .layer(DefaultBodyLimit::max(limits.max_request_body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |error: BoxError| async move {
                    refused(&error, max_concurrent)
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(max_concurrent)),
        )
}

#[derive(Clone, Copy)]
struct Timeouts {
    request: Duration,
    body_idle: Duration,
    is_upload: IsUpload,
}

/// An upload's body times out when idle; any other request times out as a whole,
/// until its response starts (a stream or a download then flows at its own pace).
async fn time_limits(State(timeouts): State<Timeouts>, request: Request, next: Next) -> Response {
    if (timeouts.is_upload)(&request) {
        let request = request.map(|body| Body::new(TimeoutBody::new(timeouts.body_idle, body)));
        return next.run(request).await;
    }
    match tokio::time::timeout(timeouts.request, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => {
            tracing::warn!(timeout = ?timeouts.request, "request timed out");
            let message = format!(
                "the server did not finish this request within {} s; try again",
                timeouts.request.as_secs()
            );
            error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &message)
        }
    }
}

/// The answer to a request the concurrency limit shed.
fn refused(error: &BoxError, max_concurrent: usize) -> Response {
    if !error.is::<tower::load_shed::error::Overloaded>() {
        tracing::error!(%error, "request failed in the server's limits");
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; try again",
        );
    }
    tracing::warn!(max_concurrent, "request shed: the server is at its concurrency limit");
    let message = format!(
        "the server is handling its limit of {max_concurrent} requests; try again in a moment"
    );
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// Serves `router` on `listener` over HTTP/1.1 until `shutdown` completes, then
/// waits for the connections open to finish their requests (the caller bounds that
/// wait). Each request carries `ConnectInfo(connect_info(io, address))`.
///
/// A client that has not sent a request's headers within `header_timeout` (also an
/// idle keep-alive connection) is disconnected; headers over `max_header_bytes` are
/// answered 431.
pub async fn serve<L, C>(
    mut listener: L,
    router: Router,
    limits: Limits,
    connect_info: fn(&L::Io, L::Addr) -> C,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    C: Clone + Send + Sync + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let info = connect_info(&io, address);
        let service =
            TowerToHyperService::new(axum::Extension(ConnectInfo(info)).layer(router.clone()));
        let connection = builder.serve_connection(TokioIo::new(io), service).into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client that went away, or was cut off by the header timeout.
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}
