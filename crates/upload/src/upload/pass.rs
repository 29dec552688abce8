//! One pass over an upload file: a check pass (all-or-nothing) asks the store what it
//! would refuse and writes nothing; a write pass writes the valid rows after the
//! resume checkpoint in batches. Either way every input row gets its results line,
//! in input order, once its batch has an outcome.

use std::time::Instant;

use bgjobs_database::catalog::{BatchChain, Checkpoint};
use bgjobs_domain::EventKind;
use bgjobs_domain::object_keys;
use bgjobs_domain::upload::header::ColumnIndex;
use bgjobs_domain::upload::results::thousands;
use bgjobs_domain::upload::write::WriteMode;
use bgjobs_proto::v1::Counters;

use super::in_flight::{InFlight, Settled, Verdict};
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

/// What a pass holds while reading: the batch being gathered, the lines waiting for it,
/// the batches in flight and the counts.
struct Reading<R> {
    batch: Vec<(u64, R)>,
    lines: RowLines,
    in_flight: InFlight<R>,
    /// The order a write pass's batches commit in.
    chain: BatchChain,
    results: ResultsWriter,
    /// The totals through the last settled batch.
    totals: Checkpoint,
    /// Rows after the last batch sent that validation rejected (a write pass's, past the
    /// resume checkpoint): the next batch's checkpoint counts them.
    stretch_rejected: u64,
    /// The input rows handled once every batch sent so far is settled.
    sent_through: u64,
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
        // A check pass commits only key claims, which must be taken in input order: one
        // batch at a time. A write pass's batches keep that order through their chain.
        let in_flight = match self.kind {
            Kind::Check => InFlight::one_at_a_time(),
            Kind::Write { .. } => InFlight::sharing(upload.settings.batches.clone()),
        };
        let mut reading = Reading {
            batch: Vec::with_capacity(batch_size),
            lines: RowLines::with_capacity(batch_size),
            in_flight,
            chain: BatchChain::starting_at(totals),
            results,
            totals,
            stretch_rejected: 0,
            sent_through: committed,
            rows_read: 0,
            rejected: 0,
        };
        let read = self.read(source, &mut reading, emitter).await;
        if read.is_err() {
            reading.in_flight.drain().await;
        }
        read?;
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

    /// Reads the file to its end and settles every batch; when it stops early, batches
    /// may still be in flight.
    async fn read(
        &self,
        source: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        reading: &mut Reading<R::Row>,
        emitter: &mut Emitter,
    ) -> Result<(), Stop> {
        let upload = self.upload;
        let batch_size = upload.settings.consumer.batch_size;
        let committed = match self.kind {
            Kind::Check => 0,
            Kind::Write { resume } => resume.rows_committed,
        };
        let format = FileFormat {
            columns: R::COLUMNS,
            encoding: encoding(upload.delivery)?,
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
                Parsed::CutShort(reason) => return Err(self.cut_short(reading, reason).await),
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
                            reading.stretch_rejected += 1;
                        }
                        reading.lines.reject(rejection);
                    }
                }
                if reading.batch.len() >= batch_size {
                    self.send(reading, row).await?;
                }
            }
            // Batches that have ended are settled now, so that their lines, and those of
            // the rows read after them, do not wait for the next full batch.
            while reading.in_flight.oldest_finished() {
                self.settle_oldest(reading).await?;
            }
            if reading.batch.is_empty() && reading.in_flight.is_empty() {
                // No row waits for a batch: the lines can go at once.
                reading.lines.write(&mut reading.results, &[]).await.map_err(lines_stop)?;
            }
            if last_progress.elapsed() >= upload.settings.consumer.progress_interval {
                last_progress = Instant::now();
                self.progress(emitter, reading).await?;
            }
        }
        if !whole_file {
            // The reader died (a bug in a row parser): ending here would report the rows
            // so far as the whole file. Committed rows stay; nothing else is written.
            self.settle_all(reading).await?;
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
            Kind::Write { .. } => last_row > reading.sent_through,
            Kind::Check => !reading.batch.is_empty(),
        };
        if unsettled {
            self.send(reading, last_row).await?;
        }
        self.settle_all(reading).await?;
        reading.lines.write(&mut reading.results, &[]).await.map_err(lines_stop)
    }

    /// Sends the batch gathered so far with the lines waiting for it, once there is room
    /// for it: a write pass commits it with the checkpoint through `row`, a check pass
    /// asks what would be refused.
    async fn send(&self, reading: &mut Reading<R::Row>, row: u64) -> Result<(), Stop> {
        let room = loop {
            match reading.in_flight.room() {
                Some(room) => break room,
                None => self.settle_oldest(reading).await?,
            }
        };
        let upload = self.upload;
        let delivery = upload.delivery;
        let batch_size = upload.settings.consumer.batch_size;
        let rows = std::mem::replace(&mut reading.batch, Vec::with_capacity(batch_size));
        let lines = std::mem::replace(&mut reading.lines, RowLines::with_capacity(batch_size));
        let (store, writer, account) =
            (upload.store.clone(), upload.rows.clone(), delivery.account.clone());
        let (job, write) = (delivery.job, self.write);
        let stretch = (row, std::mem::take(&mut reading.stretch_rejected));
        match self.kind {
            Kind::Write { .. } => {
                let turn = reading.chain.next(stretch.0, stretch.1);
                reading.in_flight.send(room, stretch, lines, async move {
                    let applied = writer.apply(&store, job, &account, &rows, write, turn).await;
                    (rows, applied.map(Verdict::Applied))
                });
            }
            Kind::Check => {
                let attempt = delivery.attempt();
                reading.in_flight.send(room, stretch, lines, async move {
                    let checked = writer.check(&store, job, attempt, &account, &rows, write).await;
                    (rows, checked.map(Verdict::Checked))
                });
            }
        }
        reading.sent_through = row;
        Ok(())
    }

    /// Settles every batch in flight, oldest first.
    async fn settle_all(&self, reading: &mut Reading<R::Row>) -> Result<(), Stop> {
        while !reading.in_flight.is_empty() {
            self.settle_oldest(reading).await?;
        }
        Ok(())
    }

    /// Waits for the oldest batch in flight and settles it: a written batch's counts join
    /// the totals, and its lines are written with each row's outcome.
    async fn settle_oldest(&self, reading: &mut Reading<R::Row>) -> Result<(), Stop> {
        let Some(settled) = reading.in_flight.settle_oldest().await else { return Ok(()) };
        let Settled { rows, verdict, mut lines, rows_committed, rejected } = settled?;
        let outcomes: Vec<LineOutcome> = match verdict {
            Verdict::Applied(applied) => {
                // The store wrote these same totals into the checkpoint.
                let totals = &mut reading.totals;
                totals.rows_committed = rows_committed;
                totals.rows_created += applied.counts.created;
                totals.rows_updated += applied.counts.updated;
                totals.rows_unchanged += applied.counts.unchanged;
                totals.rows_rejected += rejected + applied.refused;
                reading.rejected += applied.refused;
                rows.iter()
                    .zip(applied.rows)
                    .map(|((_, valid), outcome)| LineOutcome {
                        outcome: outcome.as_str(),
                        reason: R::refusal(valid, outcome).unwrap_or_default(),
                    })
                    .collect()
            }
            Verdict::Checked(verdicts) => {
                let outcomes: Vec<LineOutcome> = rows
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
        lines.write(&mut reading.results, &outcomes).await.map_err(lines_stop)
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
                if last_row > reading.sent_through
                    && let Err(stop) = self.send(reading, last_row).await
                {
                    return stop;
                }
                if let Err(stop) = self.settle_all(reading).await {
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
