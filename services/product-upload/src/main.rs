//! `product-upload`: consumes product-upload jobs until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    product_upload::run().await
}
