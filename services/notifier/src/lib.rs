//! The notifier: emails the user who started a job how it ended, once per outcome.
//!
//! The [`recorder`] reads job events from the notifier's own durable JetStream
//! consumer and records each terminal one (job, attempt, outcome) in Postgres before
//! acknowledging it (a job the registry itself fails — a dead letter, a lost worker —
//! is read from its message log instead); the [`sender`] claims recorded notifications, renders the email
//! ([`content`], from templates), sends it over SMTP ([`mailer`]) and notes in the
//! job's message log what became of it. [`Application`] runs both with the probes and
//! metrics ([`metrics`]); tests start it in-process, `main.rs` runs it as a process.

mod application;
pub mod content;
pub mod mailer;
pub mod metrics;
pub mod recorder;
mod registry_failures;
mod rejected_rows;
pub mod sender;
pub mod settings;

pub use application::Application;
pub use mailer::{Email, Mailer, SendError};
pub use settings::{Mail, Settings};

/// Runs with `settings` until SIGTERM or Ctrl-C, then drains within the shutdown
/// grace period: what the binary runs (after telemetry).
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings).await?.run_until_stopped(bgjobs_telemetry::shutdown_signal()).await
}
