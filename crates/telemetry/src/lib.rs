//! Tracing set-up shared by every bgjobs service.
//!
//! Logs go to stderr, as lowercase structured events. `RUST_LOG` picks what is
//! logged (default `info`); `BGJOBS_LOG_FORMAT=json` switches to one JSON object
//! per line for log collectors. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are
//! also exported over OTLP/gRPC, and [`traceparent`] / [`follow`] carry a job's
//! trace across the queues.

mod shutdown;
mod trace;

pub use shutdown::shutdown_signal;
pub use trace::{ENDPOINT_VARIABLE, Export, Telemetry, follow, traceparent};
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

/// Installs the global subscriber for `service` (and the span exporter when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set). Call once, first thing in `main`, inside
/// the tokio runtime. Calling it again (as tests starting several services do) is
/// harmless: the first subscriber stays.
pub fn init(service: &'static str) -> Result<Telemetry, String> {
    init_with(service, Export::from_env())
}

/// [`init`], with spans exported as `export` says rather than as the environment does.
pub fn init_with(service: &'static str, export: Export) -> Result<Telemetry, String> {
    let format = LogFormat::from_env()?;
    let provider = trace::provider(service, export)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let spans = provider.as_ref().map(|provider| trace::layer(provider, service));
    let registry = tracing_subscriber::registry().with(filter).with(spans);
    let installed = match format {
        LogFormat::Text => {
            registry.with(tracing_subscriber::fmt::layer().with_target(true)).try_init()
        }
        LogFormat::Json => {
            registry.with(tracing_subscriber::fmt::layer().json().flatten_event(true)).try_init()
        }
    };
    if installed.is_ok() {
        tracing::info!(service, exporting_spans = provider.is_some(), "telemetry initialised");
    }
    // A second init keeps the first subscriber, so its exporter would get nothing.
    Ok(Telemetry { provider: provider.filter(|_| installed.is_ok()) })
}
