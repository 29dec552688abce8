//! `notifier`: emails the user who started a job how it ended. Configured by BGJOBS_*
//! variables (docs/configuration.md); `--print-config` prints them and exits.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bgjobs_service::run("notifier", notifier::Settings::from_environment, notifier::serve).await
}
