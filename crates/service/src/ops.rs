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

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
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
