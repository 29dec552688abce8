//! The product-upload consumer: imports product catalogue files into the
//! catalog schema (docs/architecture.md, "Processing rules"). `Worker` runs the queue loop;
//! `Processor` handles one message, so tests can drive a single delivery.

pub mod job;
pub mod rows;
pub mod settings;

pub use bgjobs_consumer::Outcome;
pub use job::ProductUpload;
pub use settings::Settings;

/// Handles one delivery of a product upload.
pub type Processor = bgjobs_consumer::Processor<ProductUpload>;
/// The product-upload consumer loop.
pub type Worker = bgjobs_consumer::Worker<ProductUpload>;

/// The whole `product-upload` process: telemetry, settings from the environment, then
/// consuming until SIGTERM or Ctrl-C. The binary's `main`, and the end-to-end tests'
/// copy of the binary, run this.
pub async fn run() -> anyhow::Result<()> {
    bgjobs_service::run("product-upload", settings::load, |settings| async {
        let worker = Worker::build(settings).await?;
        Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
    })
    .await
}
