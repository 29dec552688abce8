//! The ingest service: accepts uploads, stores them in S3, registers and publishes jobs.

use anyhow::Context;
use ingest::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_telemetry::init("ingest").map_err(anyhow::Error::msg)?;
    // Before any TLS client (S3, AMQPS, gRPC over TLS) is built.
    bgjobs_storage::install_crypto_provider();

    let settings = Settings::from_env().context("reading the configuration")?;
    tracing::info!(?settings, "starting ingest");
    let application = Application::build(settings).await?;
    tracing::info!(address = %application.local_addr(), "ingest listening");
    application.run_until_stopped(bgjobs_telemetry::shutdown_signal()).await
}
