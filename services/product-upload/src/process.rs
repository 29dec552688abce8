//! Processing one job message: the whole life of one delivery of a product upload.
//!
//! The file is streamed from S3 and parsed on a blocking thread; valid rows are
//! upserted in batches, each batch committed together with the job's checkpoint,
//! so a redelivered message resumes after the last committed batch. Rejected rows
//! go to the results file. Every step is reported as a job event.

use std::time::{Duration, Instant};

use bgjobs_domain::upload::product::Product;
use bgjobs_domain::upload::results::thousands;
use bgjobs_domain::{AccountId, EventKind, JobId};
use bgjobs_messaging::events::EventPublisher;
use bgjobs_proto::v1::{Counters, JobMessage};
use bgjobs_storage::{ObjectStore, keys};
use bgjobs_store::Store;
use bgjobs_store::catalog::Checkpoint;

use crate::emitter::Emitter;
use crate::reader::{self, Parsed};
use crate::results::ResultsWriter;

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

/// Processes product-upload job messages.
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
    /// An all-or-nothing upload had invalid rows: the job fails, with the results
    /// file listing every one.
    Rejected { message: String, counters: Counters, result_key: String },
    /// A transient fault: try the delivery again.
    Retry(String),
}

/// Whether a pass over the file writes products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    None,
    Batches,
}

/// What one pass over the file saw.
#[derive(Debug, Default)]
struct PassSummary {
    rows_read: u64,
    rejected: u64,
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
            Ok((message, counters, result_key)) => {
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

/// One delivery's import.
struct Run<'a> {
    processor: &'a Processor,
    message: &'a JobMessage,
    job: JobId,
    account: &'a AccountId,
}

impl Run<'_> {
    async fn import(&self, emitter: &mut Emitter) -> Result<(String, Counters, String), Stop> {
        let store = &self.processor.store;
        let client_id = client_id(self.message).ok_or_else(|| {
            Stop::Fail(
                "the upload names no client; choose the client the products belong to".to_owned(),
            )
        })?;
        let client_known =
            store.client_exists(self.account, &client_id).await.map_err(store_stop)?;
        if !client_known {
            return Err(Stop::Fail(format!(
                "client '{client_id}' does not exist in account {}; create the client first",
                self.account
            )));
        }
        // A checkpoint of this attempt means an earlier delivery got this far.
        let resume = store
            .checkpoint(self.job)
            .await
            .map_err(store_stop)?
            .filter(|checkpoint| checkpoint.attempt == self.message.attempt)
            .unwrap_or(Checkpoint { attempt: self.message.attempt, ..Checkpoint::default() });
        let all_or_nothing = parameter_flag(self.message, "all_or_nothing");
        let result_key = keys::results(self.account, self.job);
        if all_or_nothing && resume.rows_committed == 0 {
            // Validate the whole file before writing anything; a redelivery past the
            // first checkpoint already passed this check.
            let scan = self.pass(emitter, &client_id, resume, Writes::None).await?;
            if scan.rejected > 0 {
                let message = format!(
                    "{} of {} rows are invalid; nothing was imported (all-or-nothing upload)",
                    thousands(scan.rejected),
                    thousands(scan.rows_read)
                );
                let counters = counters(scan.rows_read, scan.rows_read, scan.rejected, true);
                return Err(Stop::Rejected { message, counters, result_key });
            }
        }
        let pass = self.pass(emitter, &client_id, resume, Writes::Batches).await?;
        let message = format!(
            "{} of {} rows imported, {} rejected",
            thousands(pass.rows_read - pass.rejected),
            thousands(pass.rows_read),
            thousands(pass.rejected)
        );
        Ok((message, counters(pass.rows_read, pass.rows_read, pass.rejected, true), result_key))
    }

    /// Reads the whole file once, writing the results file and, with
    /// `Writes::Batches`, the valid rows after the `resume` checkpoint.
    async fn pass(
        &self,
        emitter: &mut Emitter,
        client_id: &str,
        resume: Checkpoint,
        writes: Writes,
    ) -> Result<PassSummary, Stop> {
        let settings = &self.processor.settings;
        let source =
            self.processor.objects.get_reader(&self.message.input_object_key).await.map_err(
                |error| match error {
                    bgjobs_storage::Error::NotFound { .. } => Stop::Fail(format!(
                        "the uploaded file is missing from storage ({}); upload it again",
                        self.message.input_object_key
                    )),
                    other => Stop::Retry(format!("reading the uploaded file failed: {other}")),
                },
            )?;
        let result_key = keys::results(self.account, self.job);
        let mut results = ResultsWriter::start(self.processor.objects.clone(), result_key)
            .map_err(|error| Stop::Retry(error.to_string()))?;

        let mut totals = resume;
        let mut parsed_rows = reader::spawn(source, settings.batch_size.min(1000));
        let mut batch: Vec<Product> = Vec::with_capacity(settings.batch_size);
        let mut summary = PassSummary::default();
        let mut last_progress = Instant::now();
        while let Some(parsed) = parsed_rows.recv().await {
            let rows = match parsed {
                Parsed::Header(_) => continue,
                Parsed::Rows(rows) => rows,
                Parsed::Unreadable(message) => return Err(Stop::Fail(message)),
                Parsed::Broken(message) => return Err(Stop::Retry(message)),
            };
            for (row, result) in rows {
                summary.rows_read = row;
                let pending = row > resume.rows_committed && writes == Writes::Batches;
                match result {
                    Ok(product) if pending => batch.push(product),
                    Ok(_) => {}
                    Err(rejection) => {
                        summary.rejected += 1;
                        results
                            .reject(&rejection)
                            .await
                            .map_err(|error| Stop::Retry(error.to_string()))?;
                        if pending {
                            totals.rows_rejected += 1;
                        }
                    }
                }
                if batch.len() >= settings.batch_size {
                    self.commit(client_id, &mut batch, &mut totals, row).await?;
                }
            }
            if last_progress.elapsed() >= settings.progress_interval {
                last_progress = Instant::now();
                let verb = if writes == Writes::None { "checked" } else { "read" };
                let message = format!(
                    "{} rows {verb}, {} rejected",
                    thousands(summary.rows_read),
                    thousands(summary.rejected)
                );
                let counters =
                    counters(summary.rows_read, summary.rows_read, summary.rejected, false);
                emitter
                    .emit(EventKind::Progress, message, Some(counters), None)
                    .await
                    .map_err(|error| Stop::Retry(format!("publishing progress failed: {error}")))?;
            }
        }
        if writes == Writes::Batches && summary.rows_read > totals.rows_committed {
            self.commit(client_id, &mut batch, &mut totals, summary.rows_read).await?;
        }
        results.finish().await.map_err(|error| Stop::Retry(error.to_string()))?;
        Ok(summary)
    }

    /// Writes the batch and the checkpoint through `row` in one transaction.
    async fn commit(
        &self,
        client_id: &str,
        batch: &mut Vec<Product>,
        totals: &mut Checkpoint,
        row: u64,
    ) -> Result<(), Stop> {
        let mut after = *totals;
        after.rows_committed = row;
        let outcome = self
            .processor
            .store
            .apply_product_batch(self.job, self.account, client_id, batch, &after)
            .await
            .map_err(store_stop)?;
        after.rows_created += outcome.created;
        after.rows_updated += outcome.updated;
        after.rows_unchanged += outcome.unchanged;
        *totals = after;
        batch.clear();
        Ok(())
    }
}

/// A boolean job parameter; absent or not a boolean is false.
fn parameter_flag(message: &JobMessage, name: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(&message.parameters_json)
        .ok()
        .and_then(|parameters| parameters.get(name)?.as_bool())
        .unwrap_or(false)
}

/// The client the upload is for: parameters first, then the reference ids.
fn client_id(message: &JobMessage) -> Option<String> {
    let from_parameters = serde_json::from_str::<serde_json::Value>(&message.parameters_json)
        .ok()
        .and_then(|parameters| parameters.get("client_id")?.as_str().map(str::to_owned));
    let from_references = message.reference_ids.as_ref().map(|ids| ids.client_id.clone());
    from_parameters.or(from_references).filter(|id| !id.is_empty())
}

fn counters(total: u64, processed: u64, rejected: u64, finished: bool) -> Counters {
    Counters {
        rows_total: if finished { total } else { 0 },
        rows_processed: processed,
        rows_rejected: rejected,
    }
}

fn store_stop(error: bgjobs_store::Error) -> Stop {
    if error.is_transient() {
        Stop::Retry(error.to_string())
    } else {
        Stop::Fail(format!("the import failed: {error}"))
    }
}
