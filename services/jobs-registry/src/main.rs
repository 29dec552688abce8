//! `jobs-registry`: runs the service; `jobs-registry migrate`: applies migrations and exits.

use clap::{Parser, Subcommand};
use jobs_registry::Settings;

/// The jobs registry: single writer of job state. Configured by BGJOBS_* variables.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Print the effective configuration, secrets redacted, and exit.
    #[arg(long)]
    print_config: bool,
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
    bgjobs_service::run("jobs-registry", Settings::load, |settings| run(cli.command, settings))
        .await
}

async fn run(command: Option<Command>, settings: Settings) -> anyhow::Result<()> {
    match command {
        Some(Command::Migrate) => {
            jobs_registry::migrate(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        None => jobs_registry::serve(settings).await,
    }
}
