//! Processing one job message: the whole life of one delivery of a Delete Client job.
//!
//! The client's rows are deleted in batches, each committed together with the job's
//! per-table count (see `bgjobs_store::catalog::delete_client`), the client row
//! last. A redelivered message carries on where the last committed batch left off,
//! and its summary still counts everything the job deleted. A dry run only counts.

use std::time::{Duration, Instant};

use bgjobs_domain::{AccountId, EventKind, JobId};
use bgjobs_messaging::events::EventPublisher;
use bgjobs_proto::v1::{Counters, JobMessage};
use bgjobs_storage::{ObjectMetadata, ObjectStore, keys};
use bgjobs_store::Store;
use bgjobs_store::catalog::delete_client::{CLIENTS_TABLE, DeleteStep, TableRows};
use bgjobs_upload_pipeline::{Emitter, Outcome};
use bytes::Bytes;

use crate::summary::{self, Mode};
use crate::wait::{self, Blocked};

/// How a processor works.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Rows deleted per committed batch.
    pub batch_size: u64,
    /// Least time between two Progress events.
    pub progress_interval: Duration,
    /// Who this worker is, in events.
    pub worker_id: String,
    /// How long a deletion waits for the client's running uploads before it gives
    /// the delivery back to be tried again.
    pub lock_wait: Duration,
}

/// Processes delete-client job messages.
#[derive(Clone)]
pub struct Processor {
    store: Store,
    objects: ObjectStore,
    events: EventPublisher,
    settings: ProcessorSettings,
}

/// A failure inside processing, sorted by what should happen next.
enum Stop {
    /// The job fails with this message.
    Fail(String),
    /// A transient fault: try the delivery again.
    Retry(String),
}

/// A finished job: its message, counters and results file.
struct Finished {
    message: String,
    counters: Counters,
    result_key: String,
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
        match run.delete(&mut emitter).await {
            Ok(Finished { message, counters, result_key }) => {
                let emitted = emitter
                    .emit(EventKind::Completed, message.clone(), Some(counters), Some(result_key))
                    .await;
                match emitted {
                    Ok(()) => Outcome::Completed { message },
                    Err(error) => Outcome::Retry {
                        cause: format!("publishing the Completed event failed: {error}"),
                    },
                }
            }
            Err(Stop::Fail(message)) => {
                match emitter.emit(EventKind::Failed, message.clone(), None, None).await {
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

/// One delivery's deletion.
struct Run<'a> {
    processor: &'a Processor,
    message: &'a JobMessage,
    job: JobId,
    account: &'a AccountId,
}

impl Run<'_> {
    async fn delete(&self, emitter: &mut Emitter) -> Result<Finished, Stop> {
        let store = &self.processor.store;
        let client_id = client_id(self.message).ok_or_else(|| {
            Stop::Fail("the job names no client; choose the client to delete".to_owned())
        })?;
        let mode =
            if parameter_flag(self.message, "dry_run") { Mode::DryRun } else { Mode::Delete };

        // An earlier delivery of this job may have deleted everything, the client row
        // last, and stopped before reporting: the job is then done, not "unknown client".
        let done_so_far =
            store.client_deletion_progress(self.job, self.account).await.map_err(store_stop)?;
        let client_row_deleted = done_so_far.iter().any(|counted| counted.table == CLIENTS_TABLE);
        if mode == Mode::Delete && client_row_deleted {
            return self.finish(mode, &done_so_far).await;
        }
        if mode == Mode::Delete {
            // Before looking at the client: a running upload may still create it.
            let settings = &self.processor.settings;
            wait::for_running_uploads(
                store,
                emitter,
                self.account,
                &client_id,
                settings.progress_interval,
                settings.lock_wait,
            )
            .await
            .map_err(|blocked| match blocked {
                Blocked::StillRunning(cause) | Blocked::Fault(cause) => Stop::Retry(cause),
            })?;
        }
        if !store.client_exists(self.account, &client_id).await.map_err(store_stop)? {
            return Err(Stop::Fail(format!(
                "client '{client_id}' does not exist in account {}",
                self.account
            )));
        }
        let remaining =
            store.client_data_counts(self.account, &client_id).await.map_err(store_stop)?;
        match mode {
            Mode::DryRun => {
                let mut would_delete = remaining;
                would_delete.push(TableRows { table: CLIENTS_TABLE, rows: 1 });
                self.finish(mode, &would_delete).await
            }
            Mode::Delete => {
                self.delete_in_batches(emitter, &client_id, &done_so_far, &remaining).await?;
                let deleted = store
                    .client_deletion_progress(self.job, self.account)
                    .await
                    .map_err(store_stop)?;
                self.finish(mode, &deleted).await
            }
        }
    }

    /// Deletes batch after batch until the client row is gone, with a Progress event
    /// at most every progress interval.
    async fn delete_in_batches(
        &self,
        emitter: &mut Emitter,
        client_id: &str,
        done_so_far: &[TableRows],
        remaining: &[TableRows],
    ) -> Result<(), Stop> {
        let settings = &self.processor.settings;
        let earlier: u64 = done_so_far.iter().map(|counted| counted.rows).sum();
        // Every client-owned row, then the client row itself.
        let total = earlier + remaining.iter().map(|counted| counted.rows).sum::<u64>() + 1;
        let mut deleted = earlier;
        let mut this_delivery: Vec<TableRows> = Vec::new();
        let mut last_progress = Instant::now();
        loop {
            let step = self
                .processor
                .store
                .delete_client_batch(self.job, self.account, client_id, settings.batch_size)
                .await
                .map_err(store_stop)?;
            let counted = match step {
                DeleteStep::Rows(counted) => counted,
                DeleteStep::ClientDeleted { .. } => return Ok(()),
            };
            deleted += counted.rows;
            match this_delivery.iter_mut().find(|entry| entry.table == counted.table) {
                Some(entry) => entry.rows += counted.rows,
                None => this_delivery.push(counted),
            }
            if last_progress.elapsed() < settings.progress_interval {
                continue;
            }
            last_progress = Instant::now();
            let table = counted.table;
            let table_done = rows_of(done_so_far, table) + rows_of(&this_delivery, table);
            let table_total = rows_of(done_so_far, table) + rows_of(remaining, table);
            // Rows added while deleting make the total grow; never show "600 of 500".
            let message = summary::progress_message(table_done, table_total.max(table_done), table);
            let counters = Counters {
                rows_total: total.max(deleted),
                rows_processed: deleted,
                rows_rejected: 0,
            };
            emitter
                .emit(EventKind::Progress, message, Some(counters), None)
                .await
                .map_err(|error| Stop::Retry(format!("publishing progress failed: {error}")))?;
        }
    }

    /// Writes the results file and composes the completion from per-table counts
    /// (the client row included as [`CLIENTS_TABLE`] when it is, or would be, deleted).
    async fn finish(&self, mode: Mode, counts: &[TableRows]) -> Result<Finished, Stop> {
        let client_row = counts.iter().any(|counted| counted.table == CLIENTS_TABLE);
        let owned: Vec<TableRows> =
            counts.iter().copied().filter(|counted| counted.table != CLIENTS_TABLE).collect();
        let contents = summary::results_csv(mode, &owned, client_row)
            .map_err(|error| Stop::Retry(format!("writing the results file failed: {error}")))?;
        let result_key = keys::results(self.account, self.job);
        let metadata = ObjectMetadata {
            content_type: "text/csv; charset=utf-8".to_owned(),
            original_file_name: Some("results.csv".to_owned()),
        };
        self.processor
            .objects
            .put_bytes(&result_key, Bytes::from(contents), &metadata)
            .await
            .map_err(|error| Stop::Retry(format!("storing the results file failed: {error}")))?;
        let rows: u64 = counts.iter().map(|counted| counted.rows).sum();
        let counters = match mode {
            Mode::DryRun => Counters { rows_total: rows, rows_processed: 0, rows_rejected: 0 },
            Mode::Delete => Counters { rows_total: rows, rows_processed: rows, rows_rejected: 0 },
        };
        let message = summary::completion_message(mode, &owned, client_row);
        Ok(Finished { message, counters, result_key })
    }
}

fn rows_of(counts: &[TableRows], table: &str) -> u64 {
    counts.iter().filter(|counted| counted.table == table).map(|counted| counted.rows).sum()
}

/// A boolean job parameter; absent or not a boolean is false.
fn parameter_flag(message: &JobMessage, name: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(&message.parameters_json)
        .ok()
        .and_then(|parameters| parameters.get(name)?.as_bool())
        .unwrap_or(false)
}

/// The client to delete: parameters first, then the reference ids.
fn client_id(message: &JobMessage) -> Option<String> {
    let from_parameters = serde_json::from_str::<serde_json::Value>(&message.parameters_json)
        .ok()
        .and_then(|parameters| parameters.get("client_id")?.as_str().map(str::to_owned));
    let from_references = message.reference_ids.as_ref().map(|ids| ids.client_id.clone());
    from_parameters.or(from_references).filter(|id| !id.is_empty())
}

fn store_stop(error: bgjobs_store::Error) -> Stop {
    if error.is_transient() {
        Stop::Retry(error.to_string())
    } else {
        Stop::Fail(format!("the deletion failed: {error}"))
    }
}
