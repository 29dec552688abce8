//! The gateway: the Background Jobs page, its REST API and live updates.

use anyhow::Context;
use gateway::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = bgjobs_telemetry::init("gateway").map_err(anyhow::Error::msg)?;
    bgjobs_object_store::install_crypto_provider();
    telemetry
        .run(async {
            let settings = Settings::from_env().context("reading the configuration")?;
            tracing::info!(?settings, "starting gateway");
            let application = Application::build(settings).await?;
            tracing::info!(address = %application.local_addr(), "gateway listening");
            application.run_until_stopped(bgjobs_telemetry::shutdown_signal()).await
        })
        .await
}
