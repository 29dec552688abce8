//! The `ingest` service as a binary of this package, so fault tests that restart it as
//! a real process find it at `CARGO_BIN_EXE_*`, built by cargo with the tests.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ingest::run().await
}
