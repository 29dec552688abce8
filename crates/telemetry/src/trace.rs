//! Traces: spans exported with OpenTelemetry (OTLP over gRPC) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and the W3C `traceparent` that carries a
//! job's trace from ingest through RabbitMQ, the consumer and NATS to the registry.

use std::collections::HashMap;
use std::future::Future;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The variable that turns span export on (the OpenTelemetry SDKs' standard name);
/// the exporter also reads the other `OTEL_EXPORTER_OTLP_*` variables.
const ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

const TRACEPARENT: &str = "traceparent";

/// What [`crate::init`] set up; flush it with [`Telemetry::shutdown`] (or let
/// [`Telemetry::run`] do it) before the process exits, or the last spans are lost.
#[must_use = "spans not flushed at exit are lost: call shutdown() or run()"]
pub struct Telemetry {
    pub(crate) provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Runs `service` to its end, then flushes the spans: what every `main` does.
    pub async fn run<T, E>(self, service: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let ended = service.await;
        self.shutdown().await;
        ended
    }

    /// Exports the spans still buffered and stops the exporter. Blocking work of the
    /// SDK runs off the async threads, so this is safe on any tokio runtime.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "flushing the last spans failed"),
            Err(error) => tracing::warn!(%error, "flushing the last spans panicked"),
        }
    }
}

/// Where spans go: OTLP/gRPC to an endpoint, or nowhere (spans are only logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// No export.
    Off,
    /// This endpoint, e.g. `http://127.0.0.1:4317`; the exporter reads the other
    /// `OTEL_EXPORTER_OTLP_*` variables itself.
    To(String),
}

impl Export {
    /// To `OTEL_EXPORTER_OTLP_ENDPOINT` when it is set, else [`Export::Off`].
    pub fn from_settings(settings: &crate::Settings) -> Self {
        match &settings.otlp_endpoint {
            Some(endpoint) => Self::To(endpoint.as_str().to_owned()),
            None => Self::Off,
        }
    }
}

/// The tracer provider of `service`'s spans, exporting them as `export` says. With
/// export off it still gives every span its trace and span ids (and keeps nothing),
/// so a job's log lines name its trace and its messages carry a `traceparent`.
pub(crate) fn provider(service: &'static str, export: Export) -> Result<SdkTracerProvider, String> {
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    let endpoint = match export {
        Export::Off => return Ok(provider.build()),
        Export::To(endpoint) => endpoint,
    };
    let exporter =
        opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build();
    let exporter = exporter.map_err(|error| {
        format!("{ENDPOINT_VARIABLE}: cannot set up the OTLP exporter: {error}")
    })?;
    // Batches go out from a tokio task: tonic needs the runtime's reactor, which the
    // SDK's default batch thread does not have.
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    Ok(provider.with_span_processor(processor).build())
}

/// The layer that turns `tracing` spans into OpenTelemetry spans of `provider`.
pub(crate) fn layer<S>(
    provider: &SdkTracerProvider,
    service: &'static str,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(service))
}

/// The W3C `traceparent` of the current span, to put on an outgoing message; `None`
/// outside any span.
pub fn traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the trace that `traceparent` (from an incoming message)
/// names, so one trace follows a job across services. A missing or malformed value
/// leaves the span the root of a trace of its own. Then [`record_trace_id`].
pub fn follow(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
        let context = TraceContextPropagator::new().extract(&carrier);
        if context.span().span_context().is_valid() {
            let _ = span.set_parent(context);
        }
    }
    record_trace_id(span);
}

/// Writes the id of `span`'s trace into its `trace_id` field (declare it
/// `trace_id = tracing::field::Empty`), so every log line in the span names the trace
/// that a tracing backend shows. A span without that field is left as it is.
pub fn record_trace_id(span: &tracing::Span) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", tracing::field::display(span_context.trace_id()));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_about_a_job_name_the_trace_its_message_carried_even_without_export() {
        let provider = provider("test", Export::Off).expect("a provider");
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(layer(&provider, "test")).with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_writer(move || writer.clone()),
        );
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "process job",
                job_id = "j-1",
                trace_id = tracing::field::Empty
            );
            follow(&span, Some(incoming));
            span.in_scope(|| {
                tracing::info!("working on it");
                traceparent()
            })
        });

        let text = String::from_utf8(lines.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a line")).expect("a JSON line");
        assert_eq!(line["message"], "working on it", "{line}");
        assert_eq!(line["span"]["job_id"], "j-1", "{line}");
        assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
        // The message this span sends on stays in the same trace.
        let outgoing = outgoing.expect("a traceparent without export");
        assert!(outgoing.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{outgoing}");
    }

    #[test]
    fn a_span_that_starts_a_trace_names_its_own() {
        let provider = provider("test", Export::Off).expect("a provider");
        let subscriber = tracing_subscriber::registry().with(layer(&provider, "test"));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("upload", trace_id = tracing::field::Empty);
            follow(&span, None);
            let traceparent = span.in_scope(traceparent).expect("a traceparent");
            let trace_id = traceparent.split('-').nth(1).expect("a trace id");
            assert_eq!(trace_id.len(), 32);
            assert_ne!(trace_id, "0".repeat(32));
        });
    }
}
