//! Start-up: keys, clients of the registry, ingest and S3, the HTTP listener; then
//! serving until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::routing::get;
use bgjobs_identity::{Credentials, Service};
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::ingest_client::IngestClient;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_service::http;
use bgjobs_service::ops::{self, HttpMetrics, Ops};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::auth::{Keys, SigningKey, Verifier};
use crate::links::LinkSigner;
use bgjobs_config::values::Secret;

use crate::live_streams::OpenStreams;
use crate::security_headers::SecurityHeaders;
use crate::settings::{KeySource, Settings};
use crate::state::{AppState, Demo};
use crate::{api, page};

/// How long connecting to the registry (or ingest's gRPC) may take before a request
/// answers 503.
const REGISTRY_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// After the shutdown signal, requests in flight get this long to finish (live
/// update streams end at the signal; the page reconnects to another replica).
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);
/// A gateway bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    headers: SecurityHeaders,
    limits: bgjobs_service::Limits,
    http_metrics: HttpMetrics,
    /// The probes and metrics, when `BGJOBS_OPS_ADDR` is set.
    ops: Option<Ops>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("listener", &self.listener).finish_non_exhaustive()
    }
}

impl Application {
    /// Prepares the token keys (generating the demo key when demo users are on), a
    /// lazily connected registry channel (start-up order does not matter), the S3
    /// client, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        bgjobs_service::install_crypto_provider();
        let (keys, demo) = match &settings.keys {
            KeySource::Jwks(url) => (Keys::jwks(url.clone(), settings.jwks_refresh), None),
            KeySource::Pem(pem) => {
                (Keys::from_pem(pem).context("BGJOBS_AUTH_PUBLIC_KEY_FILE")?, None)
            }
            KeySource::Demo => {
                let key = tokio::task::spawn_blocking(SigningKey::generate).await??;
                tracing::warn!(
                    "demo users are enabled: anyone can sign in; never use this in production"
                );
                let demo = Demo {
                    key: key.clone(),
                    issuer: settings.issuer.clone(),
                    audience: settings.audience.clone(),
                };
                (Keys::single(key.decoding_key()), Some(Arc::new(demo)))
            }
        };
        let credentials = Credentials::reloading(&settings.tls)
            .context("loading the gateway's certificate (BGJOBS_TLS_*)")?;
        let registry_channel = credentials
            .endpoint(settings.registry_url.as_str(), Service::JobsRegistry)
            .context("BGJOBS_REGISTRY_URL")?
            .connect_timeout(REGISTRY_CONNECT_TIMEOUT)
            .connect_lazy();
        let ingest_channel = credentials
            .endpoint(settings.ingest_grpc_url.as_str(), Service::Ingest)
            .context("BGJOBS_INGEST_GRPC_URL")?
            .connect_timeout(REGISTRY_CONNECT_TIMEOUT)
            .connect_lazy();
        // Uploads and deletions go to ingest's HTTP API over mutual TLS, as the gateway.
        let ingest_url = settings.ingest_url.as_str();
        if !ingest_url.starts_with("https://") {
            return Err(bgjobs_identity::Error::NotHttps(ingest_url.to_owned()))
                .context("BGJOBS_INGEST_URL");
        }
        let ingest_tls = credentials
            .https_client_config(Service::Ingest)
            .context("preparing TLS for ingest's HTTP API (BGJOBS_TLS_*)")?;
        let ingest_http = reqwest::Client::builder()
            .use_preconfigured_tls(ingest_tls)
            .build()
            .context("building the client of ingest's HTTP API")?;
        let objects = ObjectStore::connect(&settings.storage).await?;
        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("listening on {}", settings.http_addr))?;
        let state = AppState {
            verifier: Verifier::new(
                keys,
                &settings.issuer,
                &settings.audience,
                settings.max_token_lifetime,
            ),
            registry: JobsRegistryClient::new(registry_channel),
            http: ingest_http,
            ingest_url: ingest_url.to_owned(),
            ingest: IngestClient::new(ingest_channel),
            objects,
            links: LinkSigner::new(settings.download_secret.as_ref().map(Secret::expose)),
            stall_threshold: settings.stall_threshold,
            live_streams: OpenStreams::new(settings.live_streams),
            demo,
            stopping: CancellationToken::new(),
        };
        let headers = SecurityHeaders { hsts: settings.hsts };
        let mut metrics = Registry::default();
        let http_metrics = HttpMetrics::register(&mut metrics);
        let ops = match settings.ops_addr {
            Some(addr) => Some(Ops::bind(addr, ops::Serving, metrics, settings.limits).await?),
            None => None,
        };
        Ok(Self { listener, state, headers, limits: settings.limits, http_metrics, ops })
    }

    /// Where the probes and metrics are served, when they are.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(Ops::local_addr)
    }

    /// The address the HTTP server listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then lets requests finish for at most 10 s.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let stopping = self.state.stopping.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            stopping.cancel();
            let _receiver_gone = stopping_tx.send(());
        };
        let routes = router(self.state, self.headers, &self.limits, &self.http_metrics);
        let server = http::serve(self.listener, routes, self.limits, |_, address| address, signal);
        // The probes and metrics are served until the API has stopped.
        let ops_stop = CancellationToken::new();
        let ops = self.ops.map(|ops| tokio::spawn(ops.serve(ops_stop.clone().cancelled_owned())));
        let drain_deadline = async move {
            match stopping_rx.await {
                Ok(()) => tokio::time::sleep(SHUTDOWN_DRAIN).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = server => {}
            () = drain_deadline => {
                tracing::info!(drain = ?SHUTDOWN_DRAIN, "connections still open at the end of the drain; stopping");
            }
        }
        ops_stop.cancel();
        if let Some(ops) = ops
            && let Err(error) = ops.await
        {
            tracing::warn!(%error, "the operations endpoints' task failed");
        }
        Ok(())
    }
}

/// Every route of the gateway, every response with the security headers; the page
/// and the API counted in `metrics` and within `limits` (uploads with the body idle timeout, not the request
/// timeout), the probes outside them, so that a busy replica still answers them.
fn router(
    state: AppState,
    headers: SecurityHeaders,
    limits: &bgjobs_service::Limits,
    metrics: &HttpMetrics,
) -> Router {
    let served = metrics.track(Router::new().merge(api::router(&state)).merge(page::router()));
    let routes = http::bounded(served, limits, is_upload)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }));
    headers.apply(routes).layer(TraceLayer::new_for_http().on_failure(())).with_state(state)
}

/// An upload's body streams through to ingest for as long as the file takes to send.
fn is_upload(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::POST
        && (path == "/api/v1/jobs/product-upload" || path == "/api/v1/jobs/warehouse-upload")
}
