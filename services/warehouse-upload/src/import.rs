//! One delivery's import: the file is streamed from S3 and parsed on a blocking
//! thread; valid locations are upserted in batches, each batch committed together
//! with the job's checkpoint, so a redelivered message resumes after the last
//! committed batch. Rejected rows go to the results file.

use std::collections::HashSet;
use std::time::Instant;

use bgjobs_domain::upload::location::Location;
use bgjobs_domain::upload::results::thousands;
use bgjobs_domain::{AccountId, EventKind, JobId};
use bgjobs_proto::v1::{Counters, JobMessage};
use bgjobs_storage::keys;
use bgjobs_store::catalog::Checkpoint;
use bgjobs_upload_pipeline::{Emitter, ResultsWriter};

use crate::process::Processor;
use crate::reader::{self, Parsed};

/// A failure inside processing, sorted by what should happen next.
pub(crate) enum Stop {
    /// The job fails with this message.
    Fail(String),
    /// An all-or-nothing upload had invalid rows: the job fails, with the results
    /// file listing every one.
    Rejected { message: String, counters: Counters, result_key: String },
    /// A transient fault: try the delivery again.
    Retry(String),
}

/// A finished import: the completion message, the final counters and the results file.
pub(crate) struct Done {
    pub message: String,
    pub counters: Counters,
    pub result_key: String,
}

/// Whether a pass over the file writes locations.
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

/// One delivery's import.
pub(crate) struct Run<'a> {
    pub processor: &'a Processor,
    pub message: &'a JobMessage,
    pub job: JobId,
    pub account: &'a AccountId,
}

impl Run<'_> {
    pub async fn import(&self, emitter: &mut Emitter) -> Result<Done, Stop> {
        let store = &self.processor.store;
        // Once per job: rows are checked against this set, never queried one by one.
        let warehouses = store.warehouse_ids(self.account).await.map_err(store_stop)?;
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
            let scan = self.pass(emitter, &warehouses, resume, Writes::None).await?;
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
        let pass = self.pass(emitter, &warehouses, resume, Writes::Batches).await?;
        let message = format!(
            "{} of {} rows imported, {} rejected",
            thousands(pass.rows_read - pass.rejected),
            thousands(pass.rows_read),
            thousands(pass.rejected)
        );
        let counters = counters(pass.rows_read, pass.rows_read, pass.rejected, true);
        Ok(Done { message, counters, result_key })
    }

    /// Reads the whole file once, writing the results file and, with
    /// `Writes::Batches`, the valid rows after the `resume` checkpoint.
    async fn pass(
        &self,
        emitter: &mut Emitter,
        warehouses: &HashSet<String>,
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
        let chunk_rows = settings.batch_size.min(1000);
        let mut parsed_rows = reader::spawn(source, chunk_rows, warehouses.clone());
        let mut batch: Vec<Location> = Vec::with_capacity(settings.batch_size);
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
                    Ok(location) if pending => batch.push(location),
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
                    self.commit(&mut batch, &mut totals, row).await?;
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
            self.commit(&mut batch, &mut totals, summary.rows_read).await?;
        }
        results.finish().await.map_err(|error| Stop::Retry(error.to_string()))?;
        Ok(summary)
    }

    /// Writes the batch and the checkpoint through `row` in one transaction.
    async fn commit(
        &self,
        batch: &mut Vec<Location>,
        totals: &mut Checkpoint,
        row: u64,
    ) -> Result<(), Stop> {
        let mut after = *totals;
        after.rows_committed = row;
        let outcome = self
            .processor
            .store
            .apply_location_batch(self.job, self.account, batch, &after)
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
