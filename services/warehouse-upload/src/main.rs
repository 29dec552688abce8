//! `warehouse-upload`: consumes warehouse-upload jobs until SIGTERM or Ctrl-C.

use warehouse_upload::Worker;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("warehouse-upload", warehouse_upload::settings::load, |settings| async {
        let worker = Worker::build(settings).await?;
        Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
    })
    .await
}
