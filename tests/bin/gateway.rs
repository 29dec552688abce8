//! The `gateway` service as a binary of this package (what its `main` runs), so tests
//! that run every service as a process find it at `CARGO_BIN_EXE_*`, built by cargo
//! with the tests.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("gateway", gateway::Settings::load, gateway::serve).await
}
