//! The `jobs-registry` service as a binary of this package (what its `main` runs
//! without the `migrate` command), so tests that stop it the way Kubernetes does find
//! it at `CARGO_BIN_EXE_*`, built by cargo with the tests.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("jobs-registry", jobs_registry::Settings::load, jobs_registry::serve).await
}
