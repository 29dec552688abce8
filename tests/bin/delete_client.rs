//! The `delete-client` consumer as a binary of this package, so tests that need several
//! of them as real processes find it at `CARGO_BIN_EXE_*`, built by cargo with the
//! tests, never stale.

use delete_client::{Settings, Worker};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("delete-client", Settings::load, |settings| async {
        let worker = Worker::build(settings).await?;
        Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
    })
    .await
}
