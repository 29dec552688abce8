//! The ingest service: accepts uploads, stores them in S3, registers and publishes jobs.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ingest::run().await
}
