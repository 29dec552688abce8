//! Tracing set-up shared by every bgjobs service.
//!
//! Logs go to stderr, as lowercase structured events. `RUST_LOG` picks what is
//! logged (default `info`); `BGJOBS_LOG_FORMAT=json` switches to one JSON object
//! per line for log collectors. Every span belongs to a trace, which [`traceparent`] /
//! [`follow`] carry across the queues, and the lines about a job name its `job_id` and
//! `trace_id`; with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also exported over
//! OTLP/gRPC.

mod shutdown;
mod trace;

pub use shutdown::shutdown_signal;
pub use trace::{Export, Telemetry, follow, record_trace_id, traceparent};
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
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(String::new()),
        }
    }
}

impl bgjobs_config::Setting for LogFormat {
    fn allowed() -> String {
        "text or json".to_owned()
    }

    fn show(&self) -> String {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
        .to_owned()
    }
}

bgjobs_config::deserialize_by_parse!(LogFormat);

bgjobs_config::section! {
    /// Logs and traces.
    pub struct Settings {
        /// How log lines are written to stderr: `text` for people, `json` (one object
        /// per line) for log collectors. `RUST_LOG` picks what is logged (default info).
        "BGJOBS_LOG_FORMAT" => log_format: LogFormat = "text";
        /// An OTLP/gRPC collector such as http://otel-collector:4317: spans are
        /// exported to it, batched, and flushed at shutdown; the other standard
        /// `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression) apply.
        /// Unset: no export.
        "OTEL_EXPORTER_OTLP_ENDPOINT" => otlp_endpoint: Option<bgjobs_config::values::HttpUrl>;
    }
}

/// Installs the global subscriber for `service` (and the span exporter when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set). Call once, first thing in `main`, inside
/// the tokio runtime. Calling it again (as tests starting several services do) is
/// harmless: the first subscriber stays.
pub fn init(service: &'static str, settings: &Settings) -> Result<Telemetry, String> {
    init_with(service, settings.log_format, Export::from_settings(settings))
}

/// [`init`], with the log format and span export given rather than read from settings.
pub fn init_with(
    service: &'static str,
    format: LogFormat,
    export: Export,
) -> Result<Telemetry, String> {
    let exporting_spans = export != Export::Off;
    let provider = trace::provider(service, export)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let spans = trace::layer(&provider, service);
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
        tracing::info!(service, exporting_spans, "telemetry initialised");
    }
    // A second init keeps the first subscriber, so its exporter would get nothing.
    Ok(Telemetry { provider: Some(provider).filter(|_| installed.is_ok()) })
}
