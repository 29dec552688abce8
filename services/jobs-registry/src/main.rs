//! `jobs-registry`: runs the service; `jobs-registry migrate`: applies migrations and exits.

use anyhow::Context;
use clap::{Parser, Subcommand};
use jobs_registry::Settings;

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
    let telemetry = bgjobs_telemetry::init("jobs-registry").map_err(anyhow::Error::msg)?;
    // One crypto stack for every TLS client in the process (Postgres, NATS); an
    // already-installed provider is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    telemetry.run(run(cli.command)).await
}

async fn run(command: Option<Command>) -> anyhow::Result<()> {
    let settings = Settings::from_env().context("reading the configuration")?;
    match command {
        Some(Command::Migrate) => {
            jobs_registry::migrate(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        None => jobs_registry::serve(settings).await,
    }
}
