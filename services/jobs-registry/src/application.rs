//! Start-up and the run loop: the gRPC server, the event applier and the stall
//! detector, stopped together.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bgjobs_database::{JobsStore, Store};
use bgjobs_identity::{Credentials, policies};
use bgjobs_messaging::Names;
use bgjobs_messaging::events::{self, ReceivedEvent};
use bgjobs_proto::v1::jobs_registry_server::JobsRegistryServer;
use bgjobs_service::grpc::GrpcMetrics;
use bgjobs_service::ops::{self, Ops};
use futures::stream::BoxStream;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::applier::EventApplier;
use crate::database::connect_creating_database;
use crate::grpc::RegistryService;
use crate::metrics::RegistryMetrics;
use crate::settings::Settings;
use crate::stall_detector::{StallDetector, StallSettings};

/// The stream of job events from the registry's durable consumer.
type EventStream = BoxStream<'static, Result<ReceivedEvent, bgjobs_messaging::Error>>;

/// A registry that is connected and listening, ready to run.
pub struct Application {
    store: JobsStore,
    listener: TcpListener,
    grpc_addr: SocketAddr,
    events: EventStream,
    stalls: StallSettings,
    apply_concurrency: usize,
    backlog: events::Backlog,
    shutdown_grace: Duration,
    credentials: Credentials,
    limits: bgjobs_service::Limits,
    metrics: RegistryMetrics,
    grpc_metrics: GrpcMetrics,
    /// The probes and metrics, when `BGJOBS_OPS_ADDR` is set.
    ops: Option<Ops>,
}

/// What readiness checks: the database and the NATS connection.
struct Health {
    store: Store,
    nats: async_nats::Client,
}

impl ops::Readiness for Health {
    async fn check(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if let Err(error) = self.store.connection().ping().await {
            missing.push(format!("the database does not answer: {error}"));
        }
        if self.nats.connection_state() != async_nats::connection::State::Connected {
            missing.push("NATS is not connected".to_owned());
        }
        if missing.is_empty() { Ok(()) } else { Err(missing.join("; ")) }
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("grpc_addr", &self.grpc_addr).finish_non_exhaustive()
    }
}

/// Connects to the database (creating it when missing) and brings its schemas up to date.
pub async fn migrate(settings: &Settings) -> anyhow::Result<Store> {
    let store = connect_creating_database(settings.database_url.expose(), &settings.store).await?;
    store.migrate().await.context("applying database migrations")?;
    Ok(store)
}

impl Application {
    /// Connects the store and applies migrations, ensures the JetStream stream and the
    /// registry's durable consumer, and binds the gRPC listener. Nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        tracing::info!(?settings, "starting jobs-registry");
        let credentials = Credentials::reloading(&settings.tls)
            .context("loading the registry's certificate (BGJOBS_TLS_*)")?;
        let database = migrate(&settings).await?;
        let store = database.jobs();

        let names = Names::new(settings.prefix.to_string());
        let nats = events::connect(settings.nats_url.expose())
            .await
            .with_context(|| format!("connecting to NATS at {}", settings.nats_url))?;
        events::ensure_stream(&nats, &names, settings.events_replicas)
            .await
            .context("ensuring the job event stream")?;
        let events = events::durable_events(&nats, &names, &settings.consumer)
            .await
            .with_context(|| format!("opening durable consumer {}", settings.consumer))?;

        let listener = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| format!("binding gRPC to {}", settings.grpc_addr))?;
        let grpc_addr = listener.local_addr().context("reading the bound gRPC address")?;
        let shutdown_grace = settings.shutdown_grace;
        let mut registry = Registry::default();
        let metrics = RegistryMetrics::register(&mut registry);
        let grpc_metrics = GrpcMetrics::register(&mut registry, policies::REGISTRY.methods());
        let ops = match settings.ops_addr {
            None => None,
            Some(addr) => {
                let health = Health { store: database, nats: nats.clone() };
                Some(Ops::bind(addr, health, registry, settings.limits).await?)
            }
        };
        Ok(Self {
            store,
            listener,
            grpc_addr,
            events: Box::pin(events),
            stalls: settings.stalls,
            apply_concurrency: settings.apply_concurrency,
            backlog: events::Backlog::new(nats, names, settings.consumer.to_string()),
            shutdown_grace,
            credentials,
            limits: settings.limits,
            grpc_metrics,
            metrics,
            ops,
        })
    }

    /// Where the probes and metrics are served, when they are.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(Ops::local_addr)
    }

    /// The address gRPC is served on (the real port when the settings asked for port 0).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Serves gRPC (with health and reflection) over mutual TLS, each method to the
    /// identities its policy names, and applies job events until `shutdown`
    /// completes, then lets both finish what they are doing within the shutdown grace
    /// period (`BGJOBS_SHUTDOWN_GRACE_SECS`).
    ///
    /// Fails when either stops on its own (the listener or the NATS connection is lost),
    /// after stopping the other.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<JobsRegistryServer<RegistryService>>().await;
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
            .layer(policies::REGISTRY.layer())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(JobsRegistryServer::new(RegistryService::new(
                self.store.clone(),
                stop.clone(),
                self.metrics.clone(),
            )))
            .serve_with_incoming_shutdown(
                bgjobs_service::grpc::tls_incoming(self.listener, tls, &self.limits),
                stop.clone().cancelled_owned(),
            );
        let applier = EventApplier::new(self.store.clone(), self.metrics.clone());
        let stall_detector = StallDetector::new(
            self.store,
            self.stalls,
            self.backlog,
            applier.unapplied(),
            self.metrics,
        )
        .run(stop.clone());
        let applier = applier.run(self.events, self.apply_concurrency, stop.clone());

        let mut tasks = JoinSet::new();
        tasks.spawn(async move { ("gRPC server", grpc.await.map_err(anyhow::Error::from)) });
        tasks.spawn(async move { ("event applier", applier.await) });
        tasks.spawn(async move { ("stall detector", stall_detector.await) });
        if let Some(ops) = self.ops {
            let served = ops.serve(stop.clone().cancelled_owned());
            tasks.spawn(async move {
                served.await;
                ("operations endpoints", Ok(()))
            });
        }
        tracing::info!(grpc_addr = %self.grpc_addr, "jobs-registry serving");

        let mut failure = tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down");
                None
            }
            Some(joined) = tasks.join_next() => {
                Some(unexpected_end(joined))
            }
        };
        health.set_not_serving::<JobsRegistryServer<RegistryService>>().await;
        stop.cancel();

        let drain = async {
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok((_, Ok(()))) => {}
                    Ok((task, Err(error))) => {
                        tracing::error!(task, error = %error, "stopped with an error");
                        failure.get_or_insert(error.context(format!("{task} failed")));
                    }
                    Err(join_error) => {
                        failure.get_or_insert(anyhow::Error::from(join_error));
                    }
                }
            }
        };
        if tokio::time::timeout(self.shutdown_grace, drain).await.is_err() {
            tracing::warn!(grace = ?self.shutdown_grace, "shutdown drain timed out; aborting");
            tasks.abort_all();
        }
        match failure {
            Some(error) => Err(error),
            None => {
                tracing::info!("jobs-registry stopped");
                Ok(())
            }
        }
    }
}

/// The error for a task that ended before shutdown was asked for.
fn unexpected_end(
    joined: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Error {
    match joined {
        Ok((task, Ok(()))) => anyhow::anyhow!("{task} stopped unexpectedly"),
        Ok((task, Err(error))) => error.context(format!("{task} failed")),
        Err(join_error) => anyhow::Error::from(join_error).context("a registry task panicked"),
    }
}
