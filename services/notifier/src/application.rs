//! Start-up and the run loop: the recorder, the sender and the operations endpoints
//! (probes and metrics), stopped together.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bgjobs_database::Store;
use bgjobs_database::notifications::NotificationsStore;
use bgjobs_identity::{Credentials, Service};
use bgjobs_messaging::Names;
use bgjobs_messaging::events::{self, ConsumerSettings, ReceivedEvent};
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_service::ops::{self, Ops};
use futures::stream::BoxStream;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::mailer::Mailer;
use crate::metrics::NotifierMetrics;
use crate::recorder::{AfterRecord, Recorder};
use crate::registry_failures;
use crate::sender::Sender;
use crate::settings::Settings;

/// How long a call to the registry may take.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an event may stay unacknowledged before JetStream delivers it again.
const ACK_WAIT: Duration = Duration::from_secs(30);

type EventStream = BoxStream<'static, Result<ReceivedEvent, bgjobs_messaging::Error>>;

/// A notifier that is connected and listening, ready to run.
pub struct Application {
    recorder: Recorder,
    failures: NotificationsStore,
    give_up_after: Duration,
    sender: Sender,
    events: EventStream,
    /// The probes and metrics, when `BGJOBS_OPS_ADDR` is set.
    ops: Option<Ops>,
    shutdown_grace: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("ops", &self.ops).finish_non_exhaustive()
    }
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

impl Application {
    /// Connects the database (bringing its schemas up to date), NATS (opening the
    /// notifier's durable consumer), the object store and the registry's channel, and
    /// binds the health endpoints. Nothing runs until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, None).await
    }

    /// [`Application::build`], calling `after_record` between recording a terminal
    /// event and acknowledging it (the fault tests crash there).
    pub async fn build_with(
        settings: Settings,
        after_record: Option<AfterRecord>,
    ) -> anyhow::Result<Self> {
        tracing::info!(?settings, "starting notifier");
        let database = &settings.database;
        // The store's error names the server.
        let store = Store::connect_with(database.url.expose(), &database.into()).await?;
        store.migrate().await.context("applying database migrations")?;

        let names = Names::new(settings.naming.prefix.to_string());
        let nats = events::connect(settings.events.url.expose())
            .await
            .with_context(|| format!("connecting to NATS at {}", settings.events.url))?;
        events::ensure_stream(&nats, &names, settings.events.replicas.get() as usize)
            .await
            .context("ensuring the job event stream")?;
        let consumer = &settings.notifier.consumer;
        let consumer_settings = ConsumerSettings { ack_wait: ACK_WAIT };
        let events = events::durable_events_with(&nats, &names, consumer, &consumer_settings)
            .await
            .with_context(|| format!("opening durable consumer {consumer}"))?;

        let objects = ObjectStore::connect(&settings.objects)
            .await
            .context("connecting to the object store")?;
        let credentials = Credentials::reloading(&settings.tls)
            .context("loading the notifier's certificate (BGJOBS_TLS_*)")?;
        let registry = JobsRegistryClient::new(
            credentials
                .endpoint(settings.registry.url.as_str(), Service::JobsRegistry)
                .context("BGJOBS_REGISTRY_URL")?
                .connect_timeout(REGISTRY_TIMEOUT)
                .timeout(REGISTRY_TIMEOUT)
                .connect_lazy(),
        );
        let mailer = Mailer::new(&settings.mail)?;
        let retries = settings.retries();
        // Longer than one SMTP conversation may take, with room for the rest of a try.
        let lease = settings.mail.timeout.get() * 2 + Duration::from_secs(10);
        let recorded = Arc::new(Notify::new());
        let mut metrics = Registry::default();
        let sender = Sender {
            store: store.notifications(),
            registry,
            objects,
            mailer,
            page_url: settings.mail.page_url.as_str().to_owned(),
            retries,
            claimant: format!("notifier/{}-{}", hostname(), std::process::id()),
            lease,
            metrics: NotifierMetrics::register(&mut metrics),
        };
        let recorder =
            Recorder::new(store.notifications(), retries.give_up_after, recorded, after_record);

        let ops = match settings.ops.addr {
            None => None,
            Some(addr) => {
                let limits = bgjobs_service::Limits::from(&settings.server_limits);
                Some(Ops::bind(addr, Health { store: store.clone(), nats }, metrics, limits).await?)
            }
        };
        Ok(Self {
            recorder,
            failures: store.notifications(),
            give_up_after: retries.give_up_after,
            sender,
            events: Box::pin(events),
            ops,
            shutdown_grace: settings.shutdown.grace.get(),
        })
    }

    /// Where the probes and metrics are served, when they are.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(Ops::local_addr)
    }

    /// Records events, sends emails and serves the probes and metrics until `shutdown`
    /// completes, then lets each finish what it holds within the shutdown grace period.
    /// Fails when one of them stops on its own (the NATS connection is gone), after
    /// stopping the others.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let recorded = self.recorder.recorded();
        let mut tasks = JoinSet::new();
        let recorder = self.recorder.run(self.events, stop.clone());
        let failures = registry_failures::watch(
            self.failures,
            self.give_up_after,
            recorded.clone(),
            stop.clone(),
        );
        let sender = self.sender.run(recorded, stop.clone());
        tasks.spawn(async move { ("recorder", recorder.await) });
        tasks.spawn(async move { ("registry failures", failures.await) });
        tasks.spawn(async move { ("sender", sender.await) });
        let ops_addr = self.ops.as_ref().map(Ops::local_addr);
        if let Some(ops) = self.ops {
            let served = ops.serve(stop.clone().cancelled_owned());
            tasks.spawn(async move {
                served.await;
                ("operations endpoints", Ok(()))
            });
        }
        tracing::info!(?ops_addr, "notifier running");

        let mut failure = tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down");
                None
            }
            Some(joined) = tasks.join_next() => Some(match joined {
                Ok((task, Ok(()))) => anyhow::anyhow!("{task} stopped unexpectedly"),
                Ok((task, Err(error))) => error.context(format!("{task} failed")),
                Err(join_error) => anyhow::Error::from(join_error).context("a notifier task panicked"),
            }),
        };
        stop.cancel();
        let drain = async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((task, Err(error))) = joined {
                    tracing::error!(task, %error, "stopped with an error");
                    failure.get_or_insert(error.context(format!("{task} failed")));
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
                tracing::info!("notifier stopped");
                Ok(())
            }
        }
    }
}

/// 200 when the database answers and NATS is connected; 503 saying which is not.
/// This machine's name (the pod's in Kubernetes), for claims and logs.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "local".to_owned())
}
