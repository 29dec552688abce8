//! One trace follows a job (docs/architecture.md, "Traces"): ingest's publish span, the consumer's
//! span and the registry's spans applying the job's events share a trace id, linked
//! parent to child through the W3C `traceparent` on the RabbitMQ message and the NATS
//! events. The spans are exported over OTLP/gRPC to a collector served by this test on
//! loopback, so what is checked is what a real collector receives.
//!
//! This file holds one test: it installs the process's global tracing subscriber.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// An OTLP trace collector keeping every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let received = request.into_inner().resource_spans.into_iter();
        let spans =
            received.flat_map(|resource| resource.scope_spans).flat_map(|scope| scope.spans);
        self.spans.lock().map_err(|_| tonic::Status::internal("poisoned"))?.extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on a free loopback port; returns its endpoint.
    async fn serve(&self) -> anyhow::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener));
        tokio::spawn(server);
        Ok(endpoint)
    }

    /// The spans named `name` whose `job_id` attribute is `job_id`.
    fn job_spans(&self, name: &str, job_id: &str) -> Vec<Span> {
        let spans = self.spans.lock().expect("the collector's lock");
        spans
            .iter()
            .filter(|span| span.name == name && attribute(span, "job_id") == Some(job_id))
            .cloned()
            .collect()
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes.iter().find(|attribute| attribute.key == key).and_then(|attribute| {
        match attribute.value.as_ref()?.value.as_ref()? {
            Value::StringValue(text) => Some(text.as_str()),
            _ => None,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_job_from_ingest_through_the_consumer_to_the_registry()
-> anyhow::Result<()> {
    let collector = Collector::default();
    let endpoint = collector.serve().await?;
    let telemetry = bgjobs_telemetry::init_with(
        "bgjobs-e2e",
        bgjobs_telemetry::LogFormat::Text,
        bgjobs_telemetry::Export::To(endpoint),
    )
    .map_err(anyhow::Error::msg)?;
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("sku,name,price\nMUG-1,Red mug,4.99\n").await?;
    let job = system.finished_job(&job_id, Duration::from_secs(60)).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    // The registry applies Completed before the job reads Completed; its span has
    // ended by now, and shutting the exporter down sends every span still buffered.
    telemetry.shutdown().await;

    let published = wait::until("ingest's publish span", Duration::from_secs(10), || async {
        Ok(collector.job_spans("publish job", &job_id).pop())
    })
    .await?;
    let processed = collector.job_spans("process job", &job_id);
    let applied = collector.job_spans("apply job event", &job_id);
    assert_eq!(processed.len(), 1, "one delivery, one consumer span: {processed:?}");
    let kinds: Vec<_> = applied.iter().filter_map(|span| attribute(span, "kind")).collect();
    assert!(
        kinds.contains(&"EVENT_KIND_STARTED") && kinds.contains(&"EVENT_KIND_COMPLETED"),
        "the registry's spans are of the events {kinds:?}"
    );

    let processed = &processed[0];
    assert_eq!(processed.trace_id, published.trace_id, "the consumer joined the upload's trace");
    assert_eq!(processed.parent_span_id, published.span_id, "through the RabbitMQ message");
    for span in &applied {
        assert_eq!(span.trace_id, published.trace_id, "the registry joined the trace");
        assert_eq!(span.parent_span_id, processed.span_id, "through the NATS event");
    }
    system.stop().await
}
