//! One pass over an upload file: a check pass (all-or-nothing) asks the store what it
//! would refuse and writes nothing; a write pass writes the valid rows after the
//! resume checkpoint in batches. Either way every input row gets its results line,
//! in input order, once its batch has an outcome.

use std::time::Instant;

use bgjobs_database::catalog::Checkpoint;
use bgjobs_domain::EventKind;
use bgjobs_domain::object_keys;
use bgjobs_domain::upload::header::ColumnIndex;
use bgjobs_domain::upload::results::thousands;
use bgjobs_domain::upload::write::WriteMode;
use bgjobs_proto::v1::Counters;

use super::{Upload, UploadRows, store_stop};
use crate::reader::{self, Encoding, FileFormat, Parsed};
use crate::results::ResultsWriter;
use crate::row_lines::{
    self, APPLIED, APPLIED_EARLIER, LineOutcome, RowLines, SKIPPED, SKIPPED_ALL_OR_NOTHING,
};
use bgjobs_consumer::Emitter;
use bgjobs_consumer::{Delivery, Stop};

/// What a pass does with the valid rows.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Asks the store what it would refuse; writes nothing.
    Check,
    /// Writes the rows after `resume.rows_committed`.
    Write { resume: Checkpoint },
}

/// What a pass saw.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// Input rows read.
    pub rows_read: u64,
    /// Rows rejected (by validation, the write mode, or as duplicates); for a write
    /// pass, those of earlier deliveries too, as the checkpoint counts them.
    pub rejected: u64,
}

/// One pass over the file.
pub(super) struct Pass<'p, R> {
    upload: &'p Upload<'p, R>,
    write: WriteMode,
    kind: Kind,
    /// Whether this pass puts what it saw of the header (ignored columns) in the
    /// job's log: the first pass of a delivery does.
    announce_header: bool,
}

/// What a pass holds while reading: the batch, its waiting lines and the counts.
struct Reading<R> {
    batch: Vec<(u64, R)>,
    lines: RowLines,
    results: ResultsWriter,
    totals: Checkpoint,
    rows_read: u64,
    rejected: u64,
}

impl<'p, R: UploadRows> Pass<'p, R> {
    /// A check pass under `write`, the first of its delivery.
    pub fn check(upload: &'p Upload<'p, R>, write: WriteMode) -> Self {
        Self { upload, write, kind: Kind::Check, announce_header: true }
    }

    /// A write pass under `write`, resuming after `resume`; `first` when no check pass
    /// came before it.
    pub fn write(
        upload: &'p Upload<'p, R>,
        write: WriteMode,
        resume: Checkpoint,
        first: bool,
    ) -> Self {
        Self { upload, write, kind: Kind::Write { resume }, announce_header: first }
    }

    /// Reads the whole file once and stores its results file.
    pub async fn run(self, emitter: &mut Emitter) -> Result<Seen, Stop> {
        let upload = self.upload;
        let delivery = upload.delivery;
        // Derived, never read from the message (whose key, if any, the processor
        // checked against this one).
        let input_key = &object_keys::input(&delivery.account, delivery.job);
        let source = upload.objects.get_reader(input_key).await.map_err(|error| match error {
            bgjobs_object_store::Error::NotFound { .. } => Stop::Fail(format!(
                "the uploaded file is missing from storage ({input_key}); upload it again"
            )),
            other => Stop::Retry(format!("reading the uploaded file failed: {other}")),
        })?;
        let result_key = object_keys::results(&delivery.account, delivery.job);
        let results = ResultsWriter::start(upload.objects.clone(), result_key)
            .map_err(|error| Stop::Retry(error.to_string()))?;

        let batch_size = upload.settings.consumer.batch_size;
        let (committed, totals) = match self.kind {
            Kind::Check => (0, Checkpoint::default()),
            Kind::Write { resume } => (resume.rows_committed, resume),
        };
        let mut reading = Reading {
            batch: Vec::with_capacity(batch_size),
            lines: RowLines::with_capacity(batch_size),
            results,
            totals,
            rows_read: 0,
            rejected: 0,
        };
        let format = FileFormat {
            columns: R::COLUMNS,
            encoding: encoding(delivery)?,
            limits: upload.settings.limits,
        };
        let parser = upload.rows.parser();
        let mut parsed_rows = reader::spawn(source, format, batch_size.min(1000), parser);
        let mut last_progress = Instant::now();
        let mut whole_file = false;
        while let Some(parsed) = parsed_rows.recv().await {
            let rows = match parsed {
                Parsed::Header(index) => {
                    self.announce(emitter, &index).await?;
                    continue;
                }
                Parsed::Rows(rows) => rows,
                Parsed::Unreadable(message) => return Err(Stop::Fail(message)),
                Parsed::CutShort(reason) => return Err(self.cut_short(&mut reading, reason).await),
                Parsed::Broken(message) => return Err(Stop::Retry(message)),
                Parsed::End => {
                    whole_file = true;
                    continue;
                }
            };
            for (row, result) in rows {
                reading.rows_read = row;
                match result {
                    // Written by an earlier delivery of this attempt.
                    Ok(valid) if row <= committed => {
                        reading.lines.known(row, R::key(&valid), APPLIED, APPLIED_EARLIER);
                    }
                    Ok(valid) => {
                        reading.lines.in_batch(row, R::key(&valid), reading.batch.len());
                        reading.batch.push((row, valid));
                    }
                    Err(rejection) => {
                        reading.rejected += 1;
                        if row > committed {
                            reading.totals.rows_rejected += 1;
                        }
                        reading.lines.reject(rejection);
                    }
                }
                if reading.batch.len() >= batch_size {
                    self.flush(&mut reading, row).await?;
                } else if reading.batch.is_empty() {
                    // No row waits for a batch: the lines can go at once.
                    reading.lines.write(&mut reading.results, &[]).await.map_err(lines_stop)?;
                }
            }
            if last_progress.elapsed() >= upload.settings.consumer.progress_interval {
                last_progress = Instant::now();
                self.progress(emitter, &reading).await?;
            }
        }
        if !whole_file {
            // The reader died (a bug in a row parser): ending here would report the rows
            // so far as the whole file. Committed rows stay; nothing else is written.
            let committed = match self.kind {
                Kind::Write { .. } => reading.totals.rows_committed,
                Kind::Check => 0,
            };
            let imported = match committed {
                0 => "nothing was imported".to_owned(),
                rows => format!("rows 1 to {} were imported, none after them", thousands(rows)),
            };
            return Err(Stop::Fail(format!(
                "reading the file stopped unexpectedly after row {} because of an internal \
                 error; {imported}. Retry the job; if it fails again, report it with the file",
                thousands(reading.rows_read)
            )));
        }
        let last_row = reading.rows_read;
        let unsettled = match self.kind {
            // The last checkpoint covers the whole file, trailing rejected rows too.
            Kind::Write { .. } => last_row > reading.totals.rows_committed,
            Kind::Check => !reading.batch.is_empty(),
        };
        if unsettled {
            self.flush(&mut reading, last_row).await?;
        }
        reading.lines.write(&mut reading.results, &[]).await.map_err(lines_stop)?;
        if let Kind::Write { .. } = self.kind {
            // A delivery that committed nothing (another copy of the message did it all)
            // must not replace the results file of a job that has ended meanwhile.
            let (attempt, number) = (delivery.attempt(), delivery.number);
            let current = upload.store.ensure_current_delivery(delivery.job, attempt, number).await;
            current.map_err(store_stop)?;
        }
        reading.results.finish().await.map_err(|error| Stop::Retry(error.to_string()))?;
        if let Kind::Write { .. } = self.kind {
            // A copy of this attempt's message taken from now on reports the same end
            // without rewriting the file (where every line would say "applied").
            let (attempt, number) = (delivery.attempt(), delivery.number);
            let marked = upload.store.mark_results_written(delivery.job, attempt, number).await;
            if let Err(error @ bgjobs_database::Error::TakenOver { .. }) = marked {
                // The newer delivery stores the file again and reports the end.
                return Err(store_stop(error));
            }
            if let Err(error) = marked {
                tracing::warn!(job_id = %delivery.job, %error, "the stored results file is not marked; a copy of the message would write it again, and the job's key claims stay behind");
            }
        }
        let rejected = match self.kind {
            Kind::Check => reading.rejected,
            Kind::Write { .. } => reading.totals.rows_rejected,
        };
        Ok(Seen { rows_read: reading.rows_read, rejected })
    }

    /// Settles the batch: a write pass commits it with the checkpoint through `row`,
    /// a check pass asks what would be refused. Then its lines are written.
    async fn flush(&self, reading: &mut Reading<R::Row>, row: u64) -> Result<(), Stop> {
        let upload = self.upload;
        let delivery = upload.delivery;
        let (store, job, account) = (upload.store, delivery.job, &delivery.account);
        let outcomes: Vec<LineOutcome> = match self.kind {
            Kind::Write { .. } => {
                let mut after = reading.totals;
                after.rows_committed = row;
                let applied = upload
                    .rows
                    .apply(store, job, account, &reading.batch, self.write, &after)
                    .await
                    .map_err(store_stop)?;
                // The store wrote these same totals into the checkpoint.
                after.rows_created += applied.counts.created;
                after.rows_updated += applied.counts.updated;
                after.rows_unchanged += applied.counts.unchanged;
                after.rows_rejected += applied.refused;
                reading.totals = after;
                reading.rejected += applied.refused;
                reading
                    .batch
                    .iter()
                    .zip(applied.rows)
                    .map(|((_, valid), outcome)| LineOutcome {
                        outcome: outcome.as_str(),
                        reason: R::refusal(valid, outcome).unwrap_or_default(),
                    })
                    .collect()
            }
            Kind::Check => {
                let verdicts = upload
                    .rows
                    .check(store, job, delivery.attempt(), account, &reading.batch, self.write)
                    .await
                    .map_err(store_stop)?;
                let outcomes: Vec<LineOutcome> = reading
                    .batch
                    .iter()
                    .zip(verdicts)
                    .map(|((_, valid), verdict)| match verdict {
                        None => LineOutcome {
                            outcome: SKIPPED,
                            reason: SKIPPED_ALL_OR_NOTHING.to_owned(),
                        },
                        Some(outcome) => LineOutcome {
                            outcome: outcome.as_str(),
                            reason: R::refusal(valid, outcome).unwrap_or_default(),
                        },
                    })
                    .collect();
                reading.rejected +=
                    outcomes.iter().filter(|line| line.outcome != SKIPPED).count() as u64;
                outcomes
            }
        };
        reading.batch.clear();
        reading.lines.write(&mut reading.results, &outcomes).await.map_err(lines_stop)
    }

    /// Names the header's unknown columns in the job's log ("ignored columns: Colour,
    /// Supplier"), once per delivery.
    async fn announce(&self, emitter: &mut Emitter, index: &ColumnIndex) -> Result<(), Stop> {
        let Some(note) = index.ignored_columns_note().filter(|_| self.announce_header) else {
            return Ok(());
        };
        emitter
            .emit(EventKind::Log, note, None, None)
            .await
            .map_err(|error| Stop::Retry(format!("publishing the job's log failed: {error}")))
    }

    /// The end of a file whose rest cannot be read: a write pass commits the rows read
    /// before `reason` so that the message can say exactly what was imported.
    async fn cut_short(&self, reading: &mut Reading<R::Row>, reason: String) -> Stop {
        let imported = match self.kind {
            Kind::Check => "nothing was imported (all-or-nothing upload)".to_owned(),
            Kind::Write { .. } => {
                let last_row = reading.rows_read;
                if last_row > reading.totals.rows_committed
                    && let Err(stop) = self.flush(reading, last_row).await
                {
                    return stop;
                }
                let totals = &reading.totals;
                match totals.rows_committed {
                    0 => "nothing was imported".to_owned(),
                    rows => format!(
                        "of rows 1 to {}, {} were imported and {} rejected; nothing after them was imported",
                        thousands(rows),
                        thousands(
                            totals.rows_created + totals.rows_updated + totals.rows_unchanged
                        ),
                        thousands(totals.rows_rejected)
                    ),
                }
            }
        };
        Stop::Fail(format!("{reason}; {imported}"))
    }

    /// A Progress event: rows read (or checked) so far and how many were rejected.
    async fn progress(&self, emitter: &mut Emitter, reading: &Reading<R::Row>) -> Result<(), Stop> {
        let verb = match self.kind {
            Kind::Check => "checked",
            Kind::Write { .. } => "read",
        };
        let message = format!(
            "{} rows {verb}, {} rejected",
            thousands(reading.rows_read),
            thousands(reading.rejected)
        );
        let counters = Counters {
            rows_total: 0,
            rows_processed: reading.rows_read,
            rows_rejected: reading.rejected,
        };
        emitter
            .emit(EventKind::Progress, message, Some(counters), None)
            .await
            .map_err(|error| Stop::Retry(format!("publishing progress failed: {error}")))
    }
}

/// The encoding the job names (`encoding` parameter); `None` for UTF-8.
fn encoding(delivery: &Delivery<'_>) -> Result<Option<&'static Encoding>, Stop> {
    let Some(label) = delivery.text("encoding") else { return Ok(None) };
    Encoding::for_label(label.as_bytes()).map(Some).ok_or_else(|| {
        Stop::Fail(format!("the job's encoding '{label}' is not known; upload the file again"))
    })
}

fn lines_stop(error: row_lines::Error) -> Stop {
    match error {
        row_lines::Error::Results(error) => Stop::Retry(error.to_string()),
        bug @ row_lines::Error::MissingOutcome { .. } => {
            Stop::Fail(format!("the import failed: {bug}"))
        }
    }
}
