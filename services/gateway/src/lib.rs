//! The gateway: the Background Jobs page, its REST API (`/api/v1`, OpenAPI at
//! `/api/v1/openapi.json`), live updates (SSE) and downloads, with bearer-token
//! authentication, role checks and account isolation. It holds no state: jobs are
//! read from the registry over gRPC, work is started through ingest.

mod api;
mod application;
pub mod auth;
mod error;
mod links;
mod live_streams;
mod page;
mod security_headers;
pub mod settings;
mod state;

pub use api::{ApiDoc, access};

/// What callers send, read and checked as the API's handlers do before the registry or
/// ingest is asked anything: the list's filters, a download link, demo sign-in and the
/// options of starting work (what the fuzz targets feed).
pub mod requests {
    pub use crate::api::demo::SignIn;
    pub use crate::api::download::LinkQuery;
    pub use crate::api::jobs::{ListQuery, list_request};
    pub use crate::api::start::{DeleteClientQuery, Recipient, UploadQuery};
    pub use crate::links::{LINK_VALIDITY, LinkSigner};
}
pub use application::Application;
pub use error::ApiError;
pub use settings::Settings;

/// Runs with `settings` until SIGTERM or Ctrl-C, then drains: what the binary runs
/// (after telemetry).
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "starting gateway");
    let application = Application::build(settings).await?;
    tracing::info!(address = %application.local_addr(), "gateway listening");
    application.run_until_stopped(bgjobs_telemetry::shutdown_signal()).await
}
