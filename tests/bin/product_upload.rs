//! The `product-upload` consumer as a binary of this package, so end-to-end tests that
//! need it as a real process (killed mid-file) find it at `CARGO_BIN_EXE_*`, built by
//! cargo with the tests, never stale.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    product_upload::run().await
}
