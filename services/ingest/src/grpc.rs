//! The `bgjobs.v1.Ingest` gRPC service: Retry goes through ingest because ingest owns
//! publishing job messages.

use bgjobs_proto::v1::ingest_server::Ingest;
use bgjobs_proto::v1::{RetryJobRequest, RetryJobResponse};
use tonic::{Request, Response, Status};

use crate::publishing::Publishing;

/// The Ingest service's handlers.
#[derive(Clone)]
pub(crate) struct IngestService {
    publishing: Publishing,
}

impl IngestService {
    /// Handlers that retry through the registry and publish with `publishing`.
    pub fn new(publishing: Publishing) -> Self {
        Self { publishing }
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    /// The registry records the retry (and answers NotFound, FailedPrecondition or
    /// InvalidArgument as it sees fit: passed on unchanged), then the new attempt's
    /// message is published. The retry stands even if publishing fails now: the job
    /// is New on an unpublished attempt, which the sweeper publishes.
    async fn retry_job(
        &self,
        request: Request<RetryJobRequest>,
    ) -> Result<Response<RetryJobResponse>, Status> {
        let retried = self.publishing.registry.clone().retry_job(request.into_inner()).await?;
        let retried = retried.into_inner();
        let Some(job) = retried.job.as_ref() else {
            let message = "the registry answered a retry without the job";
            return Err(bgjobs_proto::ErrorCode::Internal.status(message));
        };
        self.publishing.publish_registered(job).await;
        Ok(Response::new(retried))
    }
}
