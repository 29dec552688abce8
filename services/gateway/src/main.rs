//! The gateway: the Background Jobs page, its REST API and live updates.

use anyhow::Context;
use gateway::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_telemetry::init("gateway").map_err(anyhow::Error::msg)?;
    bgjobs_storage::install_crypto_provider();

    let settings = Settings::from_env().context("reading the configuration")?;
    tracing::info!(?settings, "starting gateway");
    let application = Application::build(settings).await?;
    tracing::info!(address = %application.local_addr(), "gateway listening");
    application.run_until_stopped(shutdown_signal()).await
}

/// Completes on Ctrl-C or SIGTERM (what Kubernetes sends before killing the pod).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
