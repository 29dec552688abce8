//! `delete-client`: consumes delete-client jobs until SIGTERM or Ctrl-C.

use anyhow::Context;
use bgjobs_consumer::shutdown_signal;
use delete_client::{Settings, Worker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = bgjobs_telemetry::init("delete-client").map_err(anyhow::Error::msg)?;
    telemetry
        .run(async {
            let settings =
                Settings::from_env().map_err(anyhow::Error::msg).context("configuration")?;
            let worker = Worker::build(settings).await?;
            Ok(worker.run_until_stopped(shutdown_signal()).await?)
        })
        .await
}
