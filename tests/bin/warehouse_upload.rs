//! The `warehouse-upload` consumer as a binary of this package, so tests that need it
//! as a real process (killed, rolled) find it at `CARGO_BIN_EXE_*`, built by cargo
//! with the tests, never stale.

use warehouse_upload::Worker;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("warehouse-upload", warehouse_upload::settings::load, |settings| async {
        let worker = Worker::build(settings).await?;
        Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
    })
    .await
}
