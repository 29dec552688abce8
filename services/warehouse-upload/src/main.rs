//! `warehouse-upload`: consumes warehouse-upload jobs until SIGTERM or Ctrl-C.

use anyhow::Context;
use warehouse_upload::{Settings, Worker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_telemetry::init("warehouse-upload").map_err(anyhow::Error::msg)?;
    let settings = Settings::from_env(warehouse_upload::settings::SERVICE)
        .map_err(anyhow::Error::msg)
        .context("configuration")?;
    let worker = Worker::build(settings).await?;
    worker.run_until_stopped(shutdown_signal()).await
}

/// Completes on SIGTERM (Kubernetes rollouts) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
