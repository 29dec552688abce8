//! The `bgjobs.v1.JobsRegistry` gRPC service: decode and validate, one store call, encode.

mod decode;
mod encode;
mod lifecycle;
mod watch;

use bgjobs_database::JobsStore;
use bgjobs_proto::v1::jobs_registry_server::JobsRegistry;
use bgjobs_proto::v1::{
    AddJobNoteRequest, AddJobNoteResponse, CreateJobRequest, CreateJobResponse,
    FailDeadLetteredRequest, FailDeadLetteredResponse, GetJobRequest, GetJobResponse,
    ListJobEventsRequest, ListJobEventsResponse, ListJobsRequest, ListJobsResponse,
    ListUnpublishedJobsRequest, ListUnpublishedJobsResponse, ListUnstartedJobsRequest,
    ListUnstartedJobsResponse, MarkPublishedRequest, MarkPublishedResponse,
    ReplayDeadLetterRequest, ReplayDeadLetterResponse, RetryJobRequest, RetryJobResponse,
    WatchJobsRequest, WatchJobsResponse,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::metrics::RegistryMetrics;
use watch::Watches;

/// The registry's gRPC handlers over a store.
#[derive(Debug, Clone)]
pub struct RegistryService {
    store: JobsStore,
    watches: Watches,
    stopping: CancellationToken,
    metrics: RegistryMetrics,
}

impl RegistryService {
    /// Handlers that read and write through `store`, with the process's one poller of
    /// job changes for `WatchJobs` started on the current runtime. `WatchJobs` streams
    /// and the poller end when `stopping` is cancelled: streams never end on their
    /// own, and the server's graceful shutdown would otherwise wait its whole grace
    /// period for every open page. Jobs failed for a dead letter are counted in `metrics`.
    pub fn new(store: JobsStore, stopping: CancellationToken, metrics: RegistryMetrics) -> Self {
        let watches = Watches::start(store.clone(), watch::Bounds::default(), stopping.clone());
        Self { store, watches, stopping, metrics }
    }
}

#[tonic::async_trait]
impl JobsRegistry for RegistryService {
    async fn create_job(
        &self,
        request: Request<CreateJobRequest>,
    ) -> Result<Response<CreateJobResponse>, Status> {
        let new_job = decode::new_job(request.into_inner())?;
        let (job_id, account_id) = (new_job.job_id, new_job.account_id.clone());
        let (job, created) = self.store.create_job(new_job).await.map_err(Error::from)?;
        if created {
            tracing::info!(%job_id, %account_id, job_type = %job.job_type, "job created");
        } else {
            tracing::debug!(%job_id, %account_id, "job already existed; create is idempotent");
        }
        Ok(Response::new(CreateJobResponse { job: Some(encode::job(job)), created }))
    }

    async fn get_job(
        &self,
        request: Request<GetJobRequest>,
    ) -> Result<Response<GetJobResponse>, Status> {
        let request = request.into_inner();
        let account_id = decode::account_id(&request.account_id)?;
        let job_id = decode::job_id(&request.job_id)?;
        let job = self
            .store
            .get_job(&account_id, job_id)
            .await
            .map_err(Error::from)?
            .ok_or(Error::JobNotFound(job_id))?;
        Ok(Response::new(GetJobResponse { job: Some(encode::job(job)) }))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let (filter, page) = decode::job_list(request.get_ref())?;
        let page = self.store.list_jobs(&filter, &page).await.map_err(Error::from)?;
        Ok(Response::new(ListJobsResponse {
            jobs: page.jobs.into_iter().map(encode::job).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    async fn list_job_events(
        &self,
        request: Request<ListJobEventsRequest>,
    ) -> Result<Response<ListJobEventsResponse>, Status> {
        let request = request.into_inner();
        let account_id = decode::account_id(&request.account_id)?;
        let job_id = decode::job_id(&request.job_id)?;
        let entries = self
            .store
            .job_events(&account_id, job_id)
            .await
            .map_err(Error::from)?
            .ok_or(Error::JobNotFound(job_id))?;
        Ok(Response::new(ListJobEventsResponse {
            entries: entries.into_iter().map(encode::log_entry).collect(),
        }))
    }

    async fn retry_job(
        &self,
        request: Request<RetryJobRequest>,
    ) -> Result<Response<RetryJobResponse>, Status> {
        Ok(Response::new(lifecycle::retry_job(&self.store, request.into_inner()).await?))
    }

    async fn mark_published(
        &self,
        request: Request<MarkPublishedRequest>,
    ) -> Result<Response<MarkPublishedResponse>, Status> {
        Ok(Response::new(lifecycle::mark_published(&self.store, request.into_inner()).await?))
    }

    async fn list_unpublished_jobs(
        &self,
        request: Request<ListUnpublishedJobsRequest>,
    ) -> Result<Response<ListUnpublishedJobsResponse>, Status> {
        let answer = lifecycle::list_unpublished_jobs(&self.store, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn list_unstarted_jobs(
        &self,
        request: Request<ListUnstartedJobsRequest>,
    ) -> Result<Response<ListUnstartedJobsResponse>, Status> {
        let answer = lifecycle::list_unstarted_jobs(&self.store, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn fail_dead_lettered(
        &self,
        request: Request<FailDeadLetteredRequest>,
    ) -> Result<Response<FailDeadLetteredResponse>, Status> {
        let answer =
            lifecycle::fail_dead_lettered(&self.store, &self.metrics, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn add_job_note(
        &self,
        request: Request<AddJobNoteRequest>,
    ) -> Result<Response<AddJobNoteResponse>, Status> {
        Ok(Response::new(lifecycle::add_job_note(&self.store, request.into_inner()).await?))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<ReplayDeadLetterRequest>,
    ) -> Result<Response<ReplayDeadLetterResponse>, Status> {
        let request = request.into_inner();
        let account_id = decode::account_id(&request.account_id)?;
        let job_id = decode::job_id(&request.job_id)?;
        let operator = decode::required_text(&request.operator, "operator")?;
        let reason = decode::required_text(&request.reason, "reason")?;
        let job = self
            .store
            .replay_dead_letter(&account_id, job_id, operator, reason)
            .await
            .map_err(Error::from)?
            .ok_or(Error::JobNotFound(job_id))?;
        tracing::info!(%job_id, %account_id, operator, reason, attempt = job.attempt, "dead letter replayed");
        Ok(Response::new(ReplayDeadLetterResponse { job: Some(encode::job(job)) }))
    }

    type WatchJobsStream = BoxStream<'static, Result<WatchJobsResponse, Status>>;

    async fn watch_jobs(
        &self,
        request: Request<WatchJobsRequest>,
    ) -> Result<Response<Self::WatchJobsStream>, Status> {
        let account_id = decode::account_id(&request.get_ref().account_id)?;
        tracing::debug!(%account_id, "watching jobs");
        let changes =
            self.watches.watch(account_id).take_until(self.stopping.clone().cancelled_owned());
        Ok(Response::new(Box::pin(changes)))
    }
}
