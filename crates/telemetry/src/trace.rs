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

/// The tracer provider exporting `service`'s spans as `export` says, if at all.
pub(crate) fn provider(
    service: &'static str,
    export: Export,
) -> Result<Option<SdkTracerProvider>, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    let exporter = match export {
        Export::Off => return Ok(None),
        Export::To(endpoint) => exporter.with_endpoint(endpoint),
    };
    let exporter = exporter.build().map_err(|error| {
        format!("{ENDPOINT_VARIABLE}: cannot set up the OTLP exporter: {error}")
    })?;
    // Batches go out from a tokio task: tonic needs the runtime's reactor, which the
    // SDK's default batch thread does not have.
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    Ok(Some(provider))
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
/// when the span belongs to no trace (export off, or outside any span).
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
/// leaves the span the root of a trace of its own.
pub fn follow(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else { return };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}
