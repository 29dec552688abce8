//! `warehouse-upload`: consumes warehouse-upload jobs until SIGTERM or Ctrl-C.

use warehouse_upload::{Settings, Worker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let configure = || Settings::from_env(warehouse_upload::settings::SERVICE);
    bgjobs_service::run("warehouse-upload", configure, |settings| async {
        let worker = Worker::build(settings).await?;
        Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
    })
    .await
}
