//! Processing one job message: the whole life of one delivery of a warehouse upload.
//!
//! Every step is reported as a job event: Started, Progress while the file is read,
//! then Completed or Failed; the import itself is in `import.rs`.

use std::time::Duration;

use bgjobs_domain::{AccountId, EventKind, JobId};
use bgjobs_messaging::events::EventPublisher;
use bgjobs_proto::v1::JobMessage;
use bgjobs_storage::ObjectStore;
use bgjobs_store::Store;
use bgjobs_upload_pipeline::Emitter;

use crate::import::{Run, Stop};

/// What became of a delivery: shared by every consumer.
pub use bgjobs_upload_pipeline::Outcome;

/// How a processor works.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Valid rows per committed batch.
    pub batch_size: usize,
    /// Least time between two Progress events.
    pub progress_interval: Duration,
    /// Who this worker is, in events.
    pub worker_id: String,
}

/// Processes warehouse-upload job messages.
#[derive(Clone)]
pub struct Processor {
    pub(crate) store: Store,
    pub(crate) objects: ObjectStore,
    events: EventPublisher,
    pub(crate) settings: ProcessorSettings,
}

impl Processor {
    /// A processor over the given connections.
    pub fn new(
        store: Store,
        objects: ObjectStore,
        events: EventPublisher,
        settings: ProcessorSettings,
    ) -> Self {
        Self { store, objects, events, settings }
    }

    /// Processes one delivery of a job message. `delivery` is 1 for the first
    /// delivery, +1 for each redelivery.
    pub async fn handle(
        &self,
        message: &JobMessage,
        delivery: u32,
        traceparent: Option<String>,
    ) -> Outcome {
        let (job, account) =
            match (message.job_id.parse::<JobId>(), AccountId::parse(&message.account_id)) {
                (Ok(job), Ok(account)) => (job, account),
                (Err(error), _) => return Outcome::Poison { cause: error.to_string() },
                (_, Err(error)) => return Outcome::Poison { cause: error.to_string() },
            };
        let mut emitter = Emitter::new(
            self.events.clone(),
            &message.job_id,
            &message.account_id,
            message.attempt,
            delivery,
            &self.settings.worker_id,
            traceparent,
        );
        let started = if delivery > 1 {
            format!("Resumed by {} (delivery {delivery})", self.settings.worker_id)
        } else {
            format!("Started by {}", self.settings.worker_id)
        };
        if let Err(error) = emitter.emit(EventKind::Started, started, None, None).await {
            return Outcome::Retry {
                cause: format!("publishing the Started event failed: {error}"),
            };
        }
        let run = Run { processor: self, message, job, account: &account };
        match run.import(&mut emitter).await {
            Ok(done) => {
                let emitted = emitter
                    .emit(
                        EventKind::Completed,
                        done.message.clone(),
                        Some(done.counters),
                        Some(done.result_key),
                    )
                    .await;
                match emitted {
                    Ok(()) => Outcome::Completed { message: done.message },
                    Err(error) => Outcome::Retry {
                        cause: format!("publishing the Completed event failed: {error}"),
                    },
                }
            }
            Err(stop @ (Stop::Fail(_) | Stop::Rejected { .. })) => {
                let (message, counters, result_key) = match stop {
                    Stop::Rejected { message, counters, result_key } => {
                        (message, Some(counters), Some(result_key))
                    }
                    Stop::Fail(message) | Stop::Retry(message) => (message, None, None),
                };
                match emitter.emit(EventKind::Failed, message.clone(), counters, result_key).await {
                    Ok(()) => Outcome::Failed { message },
                    Err(error) => Outcome::Retry {
                        cause: format!("publishing the Failed event failed: {error}"),
                    },
                }
            }
            Err(Stop::Retry(cause)) => {
                // Best effort: the log shows why the job pauses; the retry is what matters.
                let note = format!("Interrupted, will retry: {cause}");
                let _ = emitter.emit(EventKind::Log, note, None, None).await;
                Outcome::Retry { cause }
            }
        }
    }
}
