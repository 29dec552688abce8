//! `delete-client`: consumes delete-client jobs until SIGTERM or Ctrl-C.

use delete_client::{Settings, Worker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("delete-client", Settings::load, |settings| async {
        let worker = Worker::build(settings).await?;
        Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
    })
    .await
}
