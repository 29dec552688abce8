//! A tonic server's calls counted by method and gRPC status code, for `/metrics`.
//!
//! The status of a call is known from the response's headers when it fails at once
//! (a trailers-only response), and from the trailers otherwise, so the response body
//! is watched until they pass; a body dropped before them counts as `CANCELLED` (the
//! client went away, or the server stopped a stream).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tonic::Code;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tower::{BoxError, Layer, Service};

/// Seconds to a call's response headers: a unary call's whole time, a stream's start.
const DURATION_BUCKETS: [f64; 11] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The label of a path that is not one of the server's methods.
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// The layer that counts calls; put it first on the server builder, so calls shed
/// or refused by the layers after it are counted too.
#[derive(Clone, Debug)]
pub struct GrpcMetrics {
    calls: Family<CallLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    methods: Arc<[&'static str]>,
}

impl GrpcMetrics {
    /// The call metrics of a server whose methods are `methods` (`/package.Service/Method`;
    /// any other path is labelled `other`, so a caller cannot grow the label set),
    /// registered in `registry`.
    pub fn register(
        registry: &mut Registry,
        methods: impl IntoIterator<Item = &'static str>,
    ) -> Self {
        let calls = Family::default();
        registry.register(
            "bgjobs_grpc_requests",
            "gRPC calls served, by method and status code (a call refused or shed before \
             reaching its method included)",
            calls.clone(),
        );
        let duration: Family<MethodLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register_with_unit(
            "bgjobs_grpc_request_duration",
            "Time from a gRPC call's arrival to its response headers, by method",
            Unit::Seconds,
            duration.clone(),
        );
        Self { calls, duration, methods: methods.into_iter().collect() }
    }

    fn method(&self, path: &str) -> &'static str {
        self.methods.iter().find(|method| **method == path).copied().unwrap_or(OTHER)
    }

    fn count(&self, method: &'static str, code: Code) {
        self.calls.get_or_create(&CallLabels { method, code: code_label(code) }).inc();
    }
}

impl<S> Layer<S> for GrpcMetrics {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, metrics: self.clone() }
    }
}

/// A service behind [`GrpcMetrics`].
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    metrics: GrpcMetrics,
}

type Answer<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, RequestBody, ResponseBody> Service<Request<RequestBody>> for Counted<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = Response<CountedBody<ResponseBody>>;
    type Error = BoxError;
    type Future = Answer<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let method = self.metrics.method(request.uri().path());
        let metrics = self.metrics.clone();
        let arrived = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await.map_err(Into::into);
            metrics
                .duration
                .get_or_create(&MethodLabels { method })
                .observe(arrived.elapsed().as_secs_f64());
            let response = match answered {
                Ok(response) => response,
                Err(error) => {
                    let code = error
                        .downcast_ref::<tonic::Status>()
                        .map_or(Code::Unknown, |status| status.code());
                    metrics.count(method, code);
                    return Err(error);
                }
            };
            let pending = match status_code(response.headers()) {
                Some(code) => {
                    metrics.count(method, code);
                    None
                }
                None => Some(Pending { metrics, method }),
            };
            Ok(response.map(|inner| CountedBody { inner, pending }))
        })
    }
}

/// A call whose status is still to come, in the trailers.
struct Pending {
    metrics: GrpcMetrics,
    method: &'static str,
}

impl Pending {
    fn settle(self, code: Code) {
        self.metrics.count(self.method, code);
    }
}

pin_project! {
    /// A response body that counts its call when the trailers carry its status.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }

    impl<B> PinnedDrop for CountedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(pending) = this.project().pending.take() {
                pending.settle(Code::Cancelled);
            }
        }
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(context));
        let settled = match &frame {
            Some(Ok(frame)) => {
                frame.trailers_ref().map(|trailers| status_code(trailers).unwrap_or(Code::Unknown))
            }
            Some(Err(_)) | None => Some(Code::Unknown),
        };
        if let Some(code) = settled
            && let Some(pending) = this.pending.take()
        {
            pending.settle(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `grpc-status` of `headers`, if they carry one.
fn status_code(headers: &HeaderMap) -> Option<Code> {
    headers.get("grpc-status").map(|value| Code::from_bytes(value.as_bytes()))
}

/// A status code as gRPC names it: `OK`, `NOT_FOUND`, ...
fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_is_no_method_is_labelled_other() {
        let metrics =
            GrpcMetrics::register(&mut Registry::default(), ["/bgjobs.v1.JobsRegistry/GetJob"]);
        assert_eq!(
            metrics.method("/bgjobs.v1.JobsRegistry/GetJob"),
            "/bgjobs.v1.JobsRegistry/GetJob"
        );
        assert_eq!(metrics.method("/bgjobs.v1.JobsRegistry/GetJob2"), OTHER);
        assert_eq!(metrics.method("/anything/else"), OTHER);
    }
}
