//! The operations endpoints a service serves on a port of their own
//! (`BGJOBS_OPS_ADDR`), for the kubelet's probes and Prometheus' scrapes:
//! - `/healthz`: the process answers (liveness);
//! - `/readyz`: it can do its work now, as the service's own [`Readiness`] check says
//!   (200 `ready`, or 503 with what it waits for);
//! - `/metrics`: its metrics in the OpenMetrics text format, which Prometheus reads.
//!
//! Plain HTTP without authentication, as probes and scrapers call: nothing served here
//! names a job, an account or a user, and the port is meant to be reachable from the
//! node and the monitoring namespace only (the Kubernetes manifests' NetworkPolicies).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;

use crate::{Limits, http};

bgjobs_config::section! {
    /// Where a service serves its operations endpoints.
    pub struct OpsSettings {
        /// Address of the operations endpoints, plain HTTP without authentication:
        /// `/healthz` (the process answers), `/readyz` (it can do its work now) and
        /// `/metrics` (Prometheus). Unset: they are not served.
        "BGJOBS_OPS_ADDR" => addr: Option<SocketAddr>;
    }
}

/// The content type of `/metrics`.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether a service can do its work now.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready; else what is missing, in words ("RabbitMQ is not connected").
    fn check(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// The readiness of a service that needs nothing else to answer: it reports a
/// dependency's outage request by request (the gateway answers 503 while the registry
/// is unreachable), so taking it out of service would change nothing.
#[derive(Debug, Clone, Copy)]
pub struct Serving;

impl Readiness for Serving {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A service's operations endpoints, bound to their address.
pub struct Ops {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    limits: Limits,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

struct Endpoints<R> {
    readiness: R,
    metrics: Registry,
}

impl Ops {
    /// Binds `addr` (so that a taken port stops start-up) for `readiness` and the
    /// metrics registered in `metrics`, served within `limits`.
    pub async fn bind<R: Readiness>(
        addr: SocketAddr,
        readiness: R,
        metrics: Registry,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let explained = |error: std::io::Error| {
            std::io::Error::new(
                error.kind(),
                format!("binding the operations endpoints to {addr}: {error}"),
            )
        };
        let listener = TcpListener::bind(addr).await.map_err(explained)?;
        let local_addr = listener.local_addr().map_err(explained)?;
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready::<R>))
            .route("/metrics", get(metrics_text::<R>))
            .with_state(Arc::new(Endpoints { readiness, metrics }));
        let router = http::bounded(router, &limits, http::no_uploads);
        Ok(Self { listener, local_addr, router, limits })
    }

    /// The address bound (its port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then lets open requests finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        http::serve(self.listener, self.router, self.limits, |_, address| address, shutdown).await;
    }
}

async fn ready<R: Readiness>(State(endpoints): State<Arc<Endpoints<R>>>) -> (StatusCode, String) {
    match endpoints.readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(missing) => (StatusCode::SERVICE_UNAVAILABLE, missing),
    }
}

async fn metrics_text<R: Readiness>(State(endpoints): State<Arc<Endpoints<R>>>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &endpoints.metrics) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS_TEXT)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts and times the requests of an HTTP API by route, method and status code.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

/// Seconds until a response's headers: milliseconds for most requests, up to the
/// request timeout for one that waits on a slow dependency.
const REQUEST_BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

impl HttpMetrics {
    /// The metrics of an HTTP API, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::default();
        registry.register(
            "bgjobs_http_requests",
            "HTTP requests answered, by route (its template, e.g. /api/v1/jobs/{job_id}), \
             method and status code",
            requests.clone(),
        );
        let duration: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS));
        registry.register_with_unit(
            "bgjobs_http_request_duration",
            "Time from a request's arrival to its response's headers (a stream or a \
             download counts until it starts), by route and method",
            Unit::Seconds,
            duration.clone(),
        );
        Self { requests, duration }
    }

    /// `router` with every request to one of its routes counted; a request no route
    /// matches is not (its path, unbounded, would be the label).
    pub fn track<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        router.route_layer(middleware::from_fn_with_state(self.clone(), track))
    }
}

async fn track(
    State(metrics): State<HttpMetrics>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = route.map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let code = response.status().as_u16();
    metrics.requests.get_or_create(&RequestLabels { route: route.clone(), method, code }).inc();
    metrics.duration.get_or_create(&RouteLabels { route, method }).observe(elapsed);
    response
}

/// The method as a label: the standard ones by name, any other as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
