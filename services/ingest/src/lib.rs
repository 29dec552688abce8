//! The ingest service: accepts uploads, stores them in S3, registers and publishes jobs.
//!
//! `POST /v1/accounts/{account_id}/jobs/product-upload` streams the CSV body to S3
//! (never holding it whole in memory), registers the job with jobs-registry over
//! gRPC, publishes the job message to RabbitMQ with a publisher confirm and answers
//! 202 with the job id.
//! `POST /v1/accounts/{account_id}/jobs/delete-client` registers and publishes a
//! Delete Client job (no body).
//! `POST /v1/accounts/{account_id}/jobs/warehouse-upload` takes a warehouse locations
//! file like a product upload, without a client. `GET /healthz` and `GET /readyz` are the probes.
//! Starting a job needs a user's bearer token (RS256, the same tokens the gateway
//! accepts), with the retry role: the account, the user and the address emailed come
//! from it, never from the request. The gateway forwards the signed-in user's own
//! token. The HTTP API is served over TLS with optional client certificates of the
//! bgjobs authority; the probes answer anyone.
//!
//! Over gRPC (`bgjobs.v1.Ingest`) it retries a failed job: the registry moves it to
//! New on its next attempt, ingest publishes it. A sweeper publishes every New job
//! whose current attempt has no confirmed message, so none is left New for good; a
//! watcher of dead-lettered job messages moves their jobs to Error.

mod application;
mod authorize;
mod body;
mod dead_letter_watch;
pub mod delete_client;
mod error;
mod grpc;
mod health;
pub mod https;
mod publishing;
pub mod query;
pub mod settings;
mod state;
mod sweeper;
mod text;
mod upload;
mod user;
mod warehouse_upload;

pub use application::Application;
pub use error::Error;
pub use settings::Settings;

/// The whole `ingest` process: telemetry, settings from the environment, then serving
/// until SIGTERM or Ctrl-C. The binary's `main`, and the end-to-end tests' copy of the
/// binary, run this.
pub async fn run() -> anyhow::Result<()> {
    bgjobs_service::run("ingest", Settings::load, |settings| async {
        tracing::info!(?settings, "starting ingest");
        let application = Application::build(settings).await?;
        tracing::info!(address = %application.local_addr(), "ingest listening");
        application.run_until_stopped(bgjobs_service::shutdown_signal()).await
    })
    .await
}
