//! The `bgjobs.v1.Ingest` gRPC service: Retry goes through ingest because ingest owns
//! publishing job messages.
//!
//! The gateway retries on behalf of a signed-in user and must send that user's bearer
//! token (`authorization: Bearer <token>` metadata): the job must be in the token's
//! account, the user must have the retry role, and the log names the token's user.
//! jobsctl is the operators' tool and retries in any account as the actor it names.

use bgjobs_auth::{AuthError, Verifier};
use bgjobs_identity::{Caller, Service};
use bgjobs_proto::ErrorCode;
use bgjobs_proto::v1::ingest_server::Ingest;
use bgjobs_proto::v1::{RetryJobRequest, RetryJobResponse};
use tonic::{Request, Response, Status};

use crate::publishing::Publishing;

/// The Ingest service's handlers.
#[derive(Clone)]
pub(crate) struct IngestService {
    publishing: Publishing,
    verifier: Verifier,
}

impl IngestService {
    /// Handlers that retry through the registry and publish with `publishing`, checking
    /// users' tokens with `verifier`.
    pub fn new(publishing: Publishing, verifier: Verifier) -> Self {
        Self { publishing, verifier }
    }

    /// The retry to record: a user's, checked against their token, when the gateway
    /// calls; an operator's as asked when jobsctl does.
    async fn on_behalf_of_caller(
        &self,
        request: Request<RetryJobRequest>,
    ) -> Result<RetryJobRequest, Status> {
        let caller = request.extensions().get::<Caller>().copied();
        if caller == Some(Caller(Service::Jobsctl)) {
            return Ok(request.into_inner());
        }
        let header = request.metadata().get("authorization").map(|value| value.as_bytes());
        let token = bgjobs_auth::bearer_token(header).map_err(refusal)?;
        let user = self.verifier.verify(token).await.map_err(refusal)?;
        user.require_retry().map_err(refusal)?;
        let mut retry = request.into_inner();
        let account = bgjobs_domain::AccountId::parse(&retry.account_id).map_err(|problem| {
            ErrorCode::InvalidRequest.status(format!("account_id: {problem}"))
        })?;
        if account != user.account {
            return Err(ErrorCode::Forbidden.status(format!(
                "your sign-in is for account '{}'; it cannot retry jobs in account '{}'",
                user.account, retry.account_id
            )));
        }
        retry.actor = user.name;
        Ok(retry)
    }
}

/// A token that was not accepted, as a gRPC status of the shared table.
fn refusal(error: AuthError) -> Status {
    match error {
        AuthError::Unauthenticated(message) => ErrorCode::Unauthenticated.status(message),
        AuthError::Forbidden(message) => ErrorCode::Forbidden.status(message),
        AuthError::Unavailable(message) => ErrorCode::Unavailable.status(message),
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
        let retry = self.on_behalf_of_caller(request).await?;
        let retried = self.publishing.registry.clone().retry_job(retry).await?;
        let retried = retried.into_inner();
        let Some(job) = retried.job.as_ref() else {
            let message = "the registry answered a retry without the job";
            return Err(bgjobs_proto::ErrorCode::Internal.status(message));
        };
        self.publishing.publish_registered(job).await;
        Ok(Response::new(retried))
    }
}
