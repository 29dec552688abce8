//! `jobs-registry`: runs the service; `jobs-registry migrate`: applies migrations and exits.

use anyhow::Context;
use clap::{Parser, Subcommand};
use jobs_registry::{Application, Settings};

/// The jobs registry: single writer of job state. Configured by BGJOBS_* variables.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if missing, apply migrations, and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    bgjobs_telemetry::init("jobs-registry").map_err(anyhow::Error::msg)?;
    // One crypto stack for every TLS client in the process (Postgres, NATS); an
    // already-installed provider is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = Settings::from_env().context("reading the configuration")?;

    match cli.command {
        Some(Command::Migrate) => {
            jobs_registry::migrate(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        None => Application::build(settings).await?.run_until_stopped(shutdown_signal()).await,
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (Kubernetes stopping the pod).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
