//! The jobs registry: single writer of job state, applying job events from JetStream and serving gRPC.
//!
//! [`Application::build`] connects everything and binds the gRPC port;
//! [`Application::run_until_stopped`] serves until told to stop. Tests start it
//! in-process on port 0, `main.rs` runs it as a process.

mod application;
pub mod applier;
mod database;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod settings;
pub mod stall_detector;

pub use application::{Application, migrate};
pub use error::Error;
pub use settings::Settings;

/// Serves with `settings` until SIGTERM or Ctrl-C, then drains within the shutdown
/// grace period: what the binary runs (after telemetry), and the end-to-end tests'
/// copy of it.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings).await?.run_until_stopped(bgjobs_telemetry::shutdown_signal()).await
}
