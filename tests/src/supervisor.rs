//! The test as the orchestrator: service binaries run as child processes and are
//! started again when they exit or fail their liveness probe, as Kubernetes restarts
//! a pod whose container exits or whose liveness probe fails.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::TestSystem;
use crate::process::ServiceProcess;

/// How often the supervisor looks at its processes (Kubernetes probes every 10 s by
/// default; a test cannot wait that long).
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// The first pause before a restart; it doubles while the service keeps failing, as
/// Kubernetes' CrashLoopBackOff does (from 10 s to 5 min there; scaled down here).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// A service that ran this long has recovered: its next failure restarts it after the
/// first pause again.
const RECOVERED_AFTER: Duration = Duration::from_secs(10);

/// One supervised service.
struct Supervised {
    name: String,
    /// Start of its log files' names: `<log_name>-<restart>-<name>.log`.
    log_name: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    liveness_url: Option<String>,
    /// None only while being replaced.
    process: Option<ServiceProcess>,
    started_at: Instant,
    restarts: u32,
    backoff: Duration,
    /// When the failed process is to be started again.
    restart_at: Option<Instant>,
}

impl Supervised {
    /// Starts the service, killing its old process first: a process that failed its
    /// probe still holds its ports.
    fn start(&mut self) -> anyhow::Result<()> {
        if let Some(old) = self.process.take() {
            old.kill()?;
        }
        let log_name = format!("{}-{}", self.log_name, self.restarts);
        let process =
            ServiceProcess::start_with_env(&self.binary, &self.env, &self.name, &log_name)?;
        self.process = Some(process);
        self.started_at = Instant::now();
        Ok(())
    }

    /// Schedules a restart after the current backoff, unless one is scheduled.
    fn failed(&mut self, reason: &str) {
        if self.restart_at.is_some() {
            return;
        }
        if self.started_at.elapsed() >= RECOVERED_AFTER {
            self.backoff = FIRST_BACKOFF;
        }
        eprintln!("supervisor: {} {reason}; restarting in {:?}", self.name, self.backoff);
        self.restart_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// Child processes kept running until the supervisor is dropped (which kills them).
pub struct Supervisor {
    services: Arc<Mutex<Vec<Supervised>>>,
    watcher: JoinHandle<()>,
    log_name: String,
}

impl Supervisor {
    /// A supervisor with no services yet; its processes' output goes to
    /// `<temp dir>/bgjobs-e2e/<log_name>-<restart>-<service>.log`.
    pub fn new(log_name: &str) -> Self {
        let services: Arc<Mutex<Vec<Supervised>>> = Arc::default();
        let watcher = tokio::spawn(watch(Arc::clone(&services)));
        Self { services, watcher, log_name: log_name.to_owned() }
    }

    /// Starts `binary` with `system`'s environment plus `extra_env`, as worker `name`,
    /// and restarts it whenever it exits, or whenever `liveness_url` (e.g. ingest's
    /// `/healthz`) answers with an error status.
    pub fn start(
        &self,
        name: &str,
        binary: impl Into<PathBuf>,
        system: &TestSystem,
        extra_env: &[(&str, &str)],
        liveness_url: Option<String>,
    ) -> anyhow::Result<()> {
        let owned = |(name, value): (&str, &str)| (name.to_owned(), value.to_owned());
        let env: Vec<(String, String)> =
            system.service_env().map(owned).chain(extra_env.iter().copied().map(owned)).collect();
        let binary = binary.into();
        let log_name = self.log_name.clone();
        let process =
            ServiceProcess::start_with_env(&binary, &env, name, &format!("{log_name}-0"))?;
        let service = Supervised {
            name: name.to_owned(),
            log_name,
            binary,
            env,
            liveness_url,
            process: Some(process),
            started_at: Instant::now(),
            restarts: 0,
            backoff: FIRST_BACKOFF,
            restart_at: None,
        };
        self.services.lock().expect("supervisor lock").push(service);
        Ok(())
    }

    /// How often the service `name` was restarted so far.
    pub fn restarts(&self, name: &str) -> u32 {
        let services = self.services.lock().expect("supervisor lock");
        services.iter().find(|service| service.name == name).map_or(0, |service| service.restarts)
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.watcher.abort();
        // Dropping each ServiceProcess kills it and waits for it.
        self.services.lock().map(|mut services| services.clear()).ok();
    }
}

/// Restarts every service that exited or failed its probe, every [`PROBE_INTERVAL`].
async fn watch(services: Arc<Mutex<Vec<Supervised>>>) {
    // As a kubelet probes: without a client certificate (ingest's probes answer anyone).
    let probe_tls = bgjobs_test_support::pki::credentials(bgjobs_identity::Service::Gateway)
        .https_anonymous_client_config(bgjobs_identity::Service::Ingest)
        .expect("TLS for probes");
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(probe_tls)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a probing HTTP client builds");
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let probes: Vec<(usize, String)> = {
            let services = services.lock().expect("supervisor lock");
            services
                .iter()
                .enumerate()
                .filter_map(|(index, service)| Some((index, service.liveness_url.clone()?)))
                .collect()
        };
        let mut failed_probes = Vec::new();
        for (index, url) in probes {
            // Only an answer saying "broken" fails: no answer at all is a process
            // still starting (or exited, which the exit check sees).
            if let Ok(response) = http.get(&url).send().await
                && !response.status().is_success()
            {
                failed_probes.push(index);
            }
        }
        let mut services = services.lock().expect("supervisor lock");
        for (index, service) in services.iter_mut().enumerate() {
            if service.restart_at.is_none() {
                let Some(process) = service.process.as_mut() else { continue };
                match process.has_exited() {
                    Ok(Some(status)) => service.failed(&format!("exited with {status}")),
                    Err(error) => service.failed(&format!("cannot be waited for ({error})")),
                    Ok(None) if failed_probes.contains(&index) => {
                        service.failed("failed its liveness probe");
                    }
                    Ok(None) => {}
                }
            }
            if service.restart_at.is_some_and(|at| Instant::now() >= at) {
                service.restart_at = None;
                service.restarts += 1;
                if let Err(error) = service.start() {
                    eprintln!("supervisor: restarting {} failed: {error:#}", service.name);
                }
            }
        }
    }
}
