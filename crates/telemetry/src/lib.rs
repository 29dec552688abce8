//! Tracing set-up shared by every bgjobs service.
//!
//! Logs go to stderr, as lowercase structured events. `RUST_LOG` picks what is
//! logged (default `info`); `BGJOBS_LOG_FORMAT=json` switches to one JSON object
//! per line for log collectors.

mod shutdown;

pub use shutdown::shutdown_signal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, one line per event.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Reads `BGJOBS_LOG_FORMAT` ("text" or "json"; default text).
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("BGJOBS_LOG_FORMAT").as_deref() {
            Err(_) | Ok("") | Ok("text") => Ok(Self::Text),
            Ok("json") => Ok(Self::Json),
            Ok(other) => Err(format!("BGJOBS_LOG_FORMAT '{other}' is not text or json")),
        }
    }
}

/// Installs the global subscriber for `service`. Call once, first thing in `main`.
/// Calling it again (as tests starting several services do) is harmless.
pub fn init(service: &'static str) -> Result<(), String> {
    let format = LogFormat::from_env()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => {
            registry.with(tracing_subscriber::fmt::layer().with_target(true)).try_init()
        }
        LogFormat::Json => {
            registry.with(tracing_subscriber::fmt::layer().json().flatten_event(true)).try_init()
        }
    };
    if installed.is_ok() {
        tracing::info!(service, "telemetry initialised");
    }
    Ok(())
}
