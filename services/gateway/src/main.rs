//! The gateway: the Background Jobs page, its REST API and live updates.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("gateway", gateway::Settings::load, gateway::serve).await
}
