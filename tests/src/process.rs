//! Service binaries run as child processes, for tests that kill or stop them the way
//! an orchestrator does (SIGKILL, SIGTERM).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

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
        let log_dir = std::env::temp_dir().join("bgjobs-e2e");
        std::fs::create_dir_all(&log_dir)?;
        let log_path = log_dir.join(format!("{log_name}-{}.log", worker_id.replace('/', "-")));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary)
            .envs(system.service_env())
            .envs(extra_env.iter().copied())
            .env("BGJOBS_WORKER_ID", worker_id)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self(child))
    }

    /// SIGKILL: no shutdown hook runs, the broker sees the connection drop.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }

    /// Sends SIGTERM, as Kubernetes does before it stops a pod.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed: {status}", self.0.id());
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
