//! The gateway: the Background Jobs page, its REST API and live updates.

use gateway::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("gateway", Settings::load, |settings| async {
        tracing::info!(?settings, "starting gateway");
        let application = Application::build(settings).await?;
        tracing::info!(address = %application.local_addr(), "gateway listening");
        application.run_until_stopped(bgjobs_service::shutdown_signal()).await
    })
    .await
}
