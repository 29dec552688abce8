//! Start-up: connect to S3, the broker and the registry, bind the HTTP listener,
//! then serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::{self, JobPublisher, QueueSettings};
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_storage::ObjectStore;
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tower_http::trace::TraceLayer;

use crate::Settings;
use crate::state::AppState;
use crate::{health, upload};

/// How long connecting to the registry may take before a request answers 503.
const REGISTRY_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one registry call may take.
const REGISTRY_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After the shutdown signal, requests in flight get this long to finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(30);

/// A built ingest service, bound to its port and ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to S3 (creating the bucket if needed) and RabbitMQ (declaring the
    /// topology), prepares a lazily connected registry channel so start-up order does
    /// not matter, and binds the HTTP listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        bgjobs_storage::install_crypto_provider();

        let store = ObjectStore::connect(&settings.storage).await?;
        store.ensure_bucket().await.with_context(|| {
            format!(
                "preparing bucket '{}' at {}",
                settings.storage.bucket, settings.storage.endpoint
            )
        })?;

        let amqp_connection = amqp::connect(&settings.amqp_url).await.with_context(|| {
            format!(
                "connecting to RabbitMQ at {}",
                crate::settings::redact_password(&settings.amqp_url)
            )
        })?;
        let names = Names::new(&settings.prefix);
        let queue_settings = QueueSettings { delivery_limit: settings.delivery_limit };
        amqp::declare_topology(&amqp_connection, &names, &queue_settings)
            .await
            .context("declaring the RabbitMQ exchanges and queues")?;
        let publisher = JobPublisher::new(&amqp_connection, &names)
            .await
            .context("opening the RabbitMQ publishing channel")?;

        let registry_channel = Endpoint::from_shared(settings.registry_url.clone())
            .with_context(|| format!("BGJOBS_REGISTRY_URL '{}'", settings.registry_url))?
            .connect_timeout(REGISTRY_CONNECT_TIMEOUT)
            .timeout(REGISTRY_REQUEST_TIMEOUT)
            .connect_lazy();

        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("listening on {}", settings.http_addr))?;

        let state = AppState {
            store,
            registry: JobsRegistryClient::new(registry_channel),
            publisher,
            amqp: Arc::new(amqp_connection),
            max_upload_bytes: settings.max_upload_bytes,
        };
        Ok(Self { listener, state })
    }

    /// The address the HTTP server listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has an address; fall back to the unspecified one.
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (for at
    /// most 30 seconds) and closes the broker connection.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            let _receiver_gone = stopping_tx.send(());
        };
        let server =
            axum::serve(self.listener, router(self.state.clone())).with_graceful_shutdown(signal);
        let drain_deadline = async move {
            match stopping_rx.await {
                Ok(()) => tokio::time::sleep(SHUTDOWN_DRAIN).await,
                // The server ended on its own: the other branch finishes.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = server => served.context("serving HTTP")?,
            () = drain_deadline => {
                tracing::warn!(drain = ?SHUTDOWN_DRAIN, "requests still running at the end of the drain; stopping anyway");
            }
        }
        // Closed while `self.state` still holds the publisher: a channel dropped first
        // would be closing on its own and make the connection close fail.
        if let Err(error) = self.state.amqp.close(200, "ingest stopped".into()).await {
            tracing::warn!(%error, "closing the RabbitMQ connection failed");
        }
        Ok(())
    }
}

/// Every route of ingest.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/accounts/{account_id}/jobs/product-upload", post(upload::product_upload))
        .route(
            "/v1/accounts/{account_id}/jobs/warehouse-upload",
            post(crate::warehouse_upload::warehouse_upload),
        )
        .route(
            "/v1/accounts/{account_id}/jobs/delete-client",
            post(crate::delete_client::delete_client),
        )
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(health::readiness))
        .layer(
            // Failures are logged once, with their cause, by `Error::into_response`.
            TraceLayer::new_for_http().on_failure(()),
        )
        .with_state(state)
}
