//! A notifier with a crash planted in it, for the fault-injection suite
//! (tests/faults/kill_notifier.rs), and nothing else: a binary of the test package,
//! never built into an image or shipped.
//!
//! It is the real notifier, except that the first time it has recorded a terminal job
//! event, before acknowledging it, it aborts the whole process (as SIGKILL or an
//! out-of-memory kill would) — unless the file named by `BGJOBS_TEST_ONLY_CRASH_MARKER`
//! exists, which it creates just before aborting. So a first run dies between receive
//! and ack, and a restart with the same variables runs normally. Without the variable
//! it refuses to start, so it cannot run by mistake as an ordinary notifier.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

/// The variable naming the marker file.
const CRASH_MARKER: &str = "BGJOBS_TEST_ONLY_CRASH_MARKER";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let marker =
        PathBuf::from(std::env::var(CRASH_MARKER).with_context(|| {
            format!("{CRASH_MARKER} must name this test notifier's marker file")
        })?);
    bgjobs_service::run(
        "crashing-notifier",
        notifier::Settings::from_environment,
        |settings| async move {
            let crash = Arc::new(move |_: &_| {
                if !marker.exists() {
                    eprintln!(
                        "crashing between recording a job outcome and acknowledging its event"
                    );
                    let _ = std::fs::write(&marker, b"crashed");
                    std::process::abort();
                }
            });
            let application = notifier::Application::build_with(settings, Some(crash)).await?;
            application.run_until_stopped(bgjobs_telemetry::shutdown_signal()).await
        },
    )
    .await
}
