//! Service binaries run as child processes, for tests that kill or stop them the way
//! an orchestrator does (SIGKILL, SIGTERM).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_identity::Service;
use bgjobs_test_support::pki;

use crate::TestSystem;

/// A service binary running against a [`TestSystem`]; killed when dropped, so a
/// failing test leaves no process behind.
pub struct ServiceProcess(Child);

impl ServiceProcess {
    /// Starts `binary` with the system's environment plus `extra_env`, naming itself
    /// `worker_id` in events; its output goes to `<temp dir>/bgjobs-e2e/<log_name>-<worker>.log`.
    pub fn start(
        binary: &Path,
        system: &TestSystem,
        worker_id: &str,
        log_name: &str,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let owned = |(name, value): (&str, &str)| (name.to_owned(), value.to_owned());
        let env: Vec<(String, String)> =
            system.service_env().map(owned).chain(extra_env.iter().copied().map(owned)).collect();
        Self::start_with_env(binary, &env, worker_id, log_name)
    }

    /// Starts `binary` with exactly the variables `env` (besides the inherited ones),
    /// naming itself `worker_id`; output as for [`Self::start`]. A service binary signs in
    /// to the brokers as its own user where `env`'s URLs sign in as the admin
    /// ([`crate::brokers::service_urls`]).
    pub fn start_with_env(
        binary: &Path,
        env: &[(String, String)],
        worker_id: &str,
        log_name: &str,
    ) -> anyhow::Result<Self> {
        let log_dir = std::env::temp_dir().join("bgjobs-e2e");
        std::fs::create_dir_all(&log_dir)?;
        let log_path = log_dir.join(format!("{log_name}-{}.log", worker_id.replace('/', "-")));
        let log = std::fs::File::create(&log_path)?;
        let lookup =
            |name: &str| env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let broker_users = service_of(binary)
            .map(|service| crate::brokers::service_urls(lookup, service))
            .unwrap_or_default();
        let child = Command::new(binary)
            .envs(certificate_env(binary))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .envs(broker_users)
            .env("BGJOBS_WORKER_ID", worker_id)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self(child))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// The exit status, once the process has exited.
    pub fn has_exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.0.try_wait()?)
    }

    /// SIGKILL: no shutdown hook runs, the broker sees the connection drop.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }

    /// Sends SIGTERM, as Kubernetes does before it stops a pod.
    pub fn terminate(&self) -> anyhow::Result<()> {
        self.signal("TERM")
    }

    /// Sends `signal` (a name such as "STOP" or "CONT", as `kill -<signal>` takes it).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.0.id().to_string()])
            .status()
            .with_context(|| format!("running kill -{signal}"))?;
        anyhow::ensure!(status.success(), "kill -{signal} {} failed: {status}", self.0.id());
        Ok(())
    }

    /// Waits for the process to exit by itself, at most `deadline`; returns its exit
    /// status and how long it took.
    pub async fn exited(&mut self, deadline: Duration) -> anyhow::Result<(ExitStatus, Duration)> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok((status, started.elapsed()));
            }
            anyhow::ensure!(
                started.elapsed() < deadline,
                "the process still runs after {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A product file of `rows` rows; the rows numbered in `bad_rows` have a SKU with a
/// space, which validation rejects.
pub fn product_file(rows: u64, bad_rows: &[u64]) -> String {
    let mut file = String::from("sku,name,price,country_of_origin\n");
    for row in 1..=rows {
        let sku =
            if bad_rows.contains(&row) { format!("BAD {row}") } else { format!("SKU-{row:06}") };
        file.push_str(&format!("{sku},Product {row},{}.99,DE\n", row % 100));
    }
    file
}

/// The certificate of the service `binary` runs, by its name (`e2e-jobs-registry`
/// runs the registry); none for a binary of no service.
fn certificate_env(binary: &Path) -> Vec<(&'static str, String)> {
    service_of(binary).map(|service| pki::tls_env(service).to_vec()).unwrap_or_default()
}

/// The service `binary` runs, by its name.
fn service_of(binary: &Path) -> Option<Service> {
    let name = binary.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    Service::ALL.into_iter().find(|service| name.ends_with(service.name()))
}
