//! Start-up: connect to S3, the broker and the registry, bind the HTTP and gRPC
//! listeners, then serve (and publish unqueued jobs) until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::routing::{get, post};
use bgjobs_identity::{Credentials, Service, policies};
use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::{self, JobPublisher, QueueSettings};
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::ingest_server::IngestServer;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_service::grpc::GrpcMetrics;
use bgjobs_service::ops::{HttpMetrics, Ops};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::Settings;
use crate::dead_letter_watch::{DeadLetterMetrics, Watch};
use crate::grpc::IngestService;
use crate::https::{Peer, TlsListener};
use crate::publishing::Publishing;
use crate::state::AppState;
use crate::sweeper::Sweeper;
use crate::{authorize, dead_letter_watch, health, upload};

/// How long connecting to the registry may take before a request answers 503.
const REGISTRY_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one registry call may take.
const REGISTRY_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A built ingest service, bound to its ports and ready to serve.
pub struct Application {
    listener: TcpListener,
    grpc_listener: TcpListener,
    sweeps: Sweeps,
    delivery_limit: u32,
    names: Names,
    state: AppState,
    shutdown_grace: Duration,
    credentials: Credentials,
    /// The bounds of both servers (timeouts, concurrency, sizes).
    limits: bgjobs_service::Limits,
    /// The HTTP API's TLS: ingest's certificate, clients' checked against the authority.
    https_config: rustls::ServerConfig,
    http_metrics: HttpMetrics,
    grpc_metrics: GrpcMetrics,
    dead_letter_metrics: DeadLetterMetrics,
    /// The probes and metrics, when `BGJOBS_OPS_ADDR` is set.
    ops: Option<Ops>,
}

impl Application {
    /// Connects to S3 (creating the bucket if needed) and RabbitMQ (declaring the
    /// topology), prepares a lazily connected registry channel so start-up order does
    /// not matter, and binds the HTTP listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        bgjobs_service::install_crypto_provider();

        let store = ObjectStore::connect(&settings.storage).await?;
        store.ensure_bucket().await.with_context(|| {
            format!(
                "preparing bucket '{}' at {}",
                settings.storage.bucket, settings.storage.endpoint
            )
        })?;

        let amqp_connection = amqp::connect(settings.amqp_url.expose())
            .await
            .with_context(|| format!("connecting to RabbitMQ at {}", settings.amqp_url))?;
        let names = Names::new(settings.prefix.to_string());
        let queue_settings = QueueSettings { delivery_limit: settings.delivery_limit };
        amqp::declare_topology(&amqp_connection, &names, &queue_settings)
            .await
            .context("declaring the RabbitMQ exchanges and queues")?;
        let publisher = JobPublisher::new(&amqp_connection, &names)
            .await
            .context("opening the RabbitMQ publishing channel")?;

        let credentials = Credentials::reloading(&settings.tls)
            .context("loading ingest's certificate (BGJOBS_TLS_*)")?;
        let https_config =
            credentials.https_server_config().context("configuring the HTTP server's TLS")?;
        let registry_channel = credentials
            .endpoint(settings.registry_url.as_str(), Service::JobsRegistry)
            .context("BGJOBS_REGISTRY_URL")?
            .connect_timeout(REGISTRY_CONNECT_TIMEOUT)
            .timeout(REGISTRY_REQUEST_TIMEOUT)
            .connect_lazy();

        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("listening on {}", settings.http_addr))?;
        let grpc_listener = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| format!("binding gRPC to {}", settings.grpc_addr))?;

        let publishing =
            Publishing { publisher, registry: JobsRegistryClient::new(registry_channel) };
        let state = AppState {
            store,
            publishing,
            amqp: Arc::new(amqp_connection),
            max_upload_bytes: settings.max_upload_bytes,
            verifier: settings.tokens.verifier().context("BGJOBS_AUTH_PUBLIC_KEY_FILE")?,
        };
        let sweeps = Sweeps {
            unpublished_after: settings.republish_after,
            unstarted_after: settings.republish_unstarted_after,
        };
        let delivery_limit = settings.delivery_limit;
        let shutdown_grace = settings.shutdown_grace;
        let mut metrics = Registry::default();
        let http_metrics = HttpMetrics::register(&mut metrics);
        let grpc_metrics = GrpcMetrics::register(&mut metrics, policies::INGEST.methods());
        let dead_letter_metrics = DeadLetterMetrics::register(&mut metrics);
        let ops = match settings.ops_addr {
            None => None,
            Some(addr) => {
                let readiness = health::QueueConnected(state.amqp.clone());
                Some(Ops::bind(addr, readiness, metrics, settings.limits).await?)
            }
        };
        Ok(Self {
            listener,
            grpc_listener,
            sweeps,
            delivery_limit,
            names,
            state,
            shutdown_grace,
            credentials,
            limits: settings.limits,
            grpc_metrics,
            dead_letter_metrics,
            https_config,
            http_metrics,
            ops,
        })
    }

    /// Where the probes and metrics are served, when they are.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(Ops::local_addr)
    }

    /// The address the HTTP server listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        bound_address(&self.listener)
    }

    /// The address the gRPC server listens on (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        bound_address(&self.grpc_listener)
    }

    /// Serves HTTPS and gRPC (both over mutual TLS) and publishes unqueued jobs until
    /// `shutdown` completes, then lets requests in flight finish (within the shutdown
    /// grace period, `BGJOBS_SHUTDOWN_GRACE_SECS`) and closes the broker connection.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            grpc_listener,
            sweeps,
            delivery_limit,
            names,
            state,
            shutdown_grace,
            credentials,
            limits,
            https_config,
            http_metrics,
            grpc_metrics,
            dead_letter_metrics,
            ops,
        } = self;
        // The probes and metrics are served until everything else has stopped.
        let ops_stop = CancellationToken::new();
        let ops = ops.map(|ops| tokio::spawn(ops.serve(ops_stop.clone().cancelled_owned())));
        let stop = CancellationToken::new();
        let background = Background {
            grpc_listener,
            sweeps,
            delivery_limit,
            names,
            credentials,
            limits,
            grpc_metrics,
            dead_letter_metrics,
        };
        let background = background.spawn(&state, stop.clone()).await?;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_background = stop.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            // gRPC, the sweeper and the watcher wind down alongside HTTP, in the same grace.
            stop_background.cancel();
            let _receiver_gone = stopping_tx.send(());
        };
        let listener = TlsListener::new(listener, https_config, limits.header_timeout);
        let routes = router(state.clone(), &limits, &http_metrics);
        let server = bgjobs_service::http::serve(listener, routes, limits, Peer::of, signal);
        let drain_deadline = async move {
            match stopping_rx.await {
                Ok(()) => tokio::time::sleep(shutdown_grace).await,
                // The server ended on its own: the other branch finishes.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = server => {}
            () = drain_deadline => {
                tracing::warn!(grace = ?shutdown_grace, "requests still running at the end of the grace period; stopping anyway");
            }
        }
        stop.cancel();
        if tokio::time::timeout(shutdown_grace, background.join_all()).await.is_err() {
            tracing::warn!(grace = ?shutdown_grace, "gRPC requests still running; stopping anyway");
        }
        // Closed while `state` still holds the publisher: a channel dropped first
        // would be closing on its own and make the connection close fail.
        if let Err(error) = state.amqp.close(200, "ingest stopped".into()).await {
            tracing::warn!(%error, "closing the RabbitMQ connection failed");
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

/// How long the sweeper lets a New job wait before publishing it again.
#[derive(Debug, Clone, Copy)]
struct Sweeps {
    /// Without a confirmed message (`BGJOBS_REPUBLISH_AFTER_SECS`).
    unpublished_after: Duration,
    /// Confirmed but not started (`BGJOBS_REPUBLISH_UNSTARTED_AFTER_SECS`).
    unstarted_after: Duration,
}

/// What ingest runs beside its HTTP server.
struct Background {
    grpc_listener: TcpListener,
    sweeps: Sweeps,
    delivery_limit: u32,
    names: Names,
    credentials: Credentials,
    limits: bgjobs_service::Limits,
    grpc_metrics: GrpcMetrics,
    dead_letter_metrics: DeadLetterMetrics,
}

impl Background {
    /// Spawns the gRPC server (Ingest, with health and reflection, over mutual TLS and
    /// each method to the identities its policy names), the sweeper that
    /// publishes unqueued jobs and the dead-letter watcher, all stopping when `stop`
    /// is cancelled.
    async fn spawn(self, state: &AppState, stop: CancellationToken) -> anyhow::Result<JoinSet<()>> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<IngestServer<IngestService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bgjobs_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building the gRPC reflection service")?;
        let tls =
            self.credentials.grpc_server_config().context("configuring the gRPC server's TLS")?;
        // Bounded (timeouts, HTTP/2 limits, load shedding) before the caller is checked.
        let grpc = bgjobs_service::grpc::server(&self.limits)
            .layer(self.grpc_metrics.clone())
            .layer(bgjobs_service::grpc::Shedding::new(&self.limits))
            .layer(policies::INGEST.layer())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(IngestServer::new(IngestService::new(
                state.publishing.clone(),
                state.verifier.clone(),
            )))
            .serve_with_incoming_shutdown(
                bgjobs_service::grpc::tls_incoming(self.grpc_listener, tls, &self.limits),
                stop.clone().cancelled_owned(),
            );
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            if let Err(error) = grpc.await {
                tracing::error!(%error, "the gRPC server stopped");
            }
        });
        let sweeper = Sweeper {
            publishing: state.publishing.clone(),
            connection: state.amqp.clone(),
            names: self.names.clone(),
            unpublished_after: self.sweeps.unpublished_after,
            unstarted_after: self.sweeps.unstarted_after,
        };
        tasks.spawn(sweeper.run_until_stopped(stop.clone()));
        let (connection, registry) = (state.amqp.clone(), state.publishing.registry.clone());
        let (names, delivery_limit) = (self.names, self.delivery_limit);
        let metrics = self.dead_letter_metrics;
        tasks.spawn(async move {
            let watch =
                Watch { connection: &connection, names: &names, delivery_limit, registry, metrics };
            let watched = dead_letter_watch::watch_until_stopped(watch, stop);
            if let Err(error) = watched.await {
                // The connection is gone: /healthz reports it, and a restart resumes.
                tracing::error!(%error, "the dead-letter watcher stopped");
            }
        });
        Ok(tasks)
    }
}

/// A bound listener's address; the unspecified one in the unlikely case the OS cannot say.
fn bound_address(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Every route of ingest, each to the callers its rule in `policies::INGEST_HTTP` names;
/// the API counted in `metrics` and within `limits` (uploads with the body idle timeout, not the request
/// timeout), the probes outside them, so that a busy replica still answers them.
fn router(state: AppState, limits: &bgjobs_service::Limits, metrics: &HttpMetrics) -> Router {
    let api = Router::new()
        .route("/v1/accounts/{account_id}/jobs/product-upload", post(upload::product_upload))
        .route(
            "/v1/accounts/{account_id}/jobs/warehouse-upload",
            post(crate::warehouse_upload::warehouse_upload),
        )
        .route(
            "/v1/accounts/{account_id}/jobs/delete-client",
            post(crate::delete_client::delete_client),
        );
    bgjobs_service::http::bounded(metrics.track(api), limits, is_upload)
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(health::readiness))
        .route_layer(axum::middleware::from_fn(authorize::authorize))
        .layer(
            // Failures are logged once, with their cause, by `Error::into_response`.
            TraceLayer::new_for_http().on_failure(()),
        )
        .with_state(state)
}

/// An upload's body streams for as long as the file takes to send.
fn is_upload(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::POST
        && (path.ends_with("/jobs/product-upload") || path.ends_with("/jobs/warehouse-upload"))
}
