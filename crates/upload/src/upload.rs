//! One upload delivery, whatever its row type: the file is streamed from S3 and
//! parsed on a blocking thread; valid rows are written in batches, each committed
//! together with the job's checkpoint, so a redelivered message resumes after the
//! last committed batch; every input row gets its line in the results file.

mod in_flight;
mod pass;

use std::future::Future;

use bgjobs_database::CatalogStore;
use bgjobs_database::catalog::{AppliedBatch, BatchTurn};
use bgjobs_domain::object_keys;
use bgjobs_domain::upload::Rejection;
use bgjobs_domain::upload::header::{ColumnIndex, ColumnSpec};
use bgjobs_domain::upload::results::thousands;
use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::{AccountId, JobId};
use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::Counters;

use crate::Settings;
use bgjobs_consumer::Emitter;
use bgjobs_consumer::{Delivery, Finished, Stop};
use pass::Pass;

/// What an upload's row type brings to the shared upload pass.
pub trait UploadRows: Clone + Send + Sync + 'static {
    /// A valid row.
    type Row: Send + Sync + 'static;

    /// The columns of the file.
    const COLUMNS: &'static [ColumnSpec];

    /// The row parser for one pass over the file; it runs on the reader's thread.
    fn parser(
        &self,
    ) -> impl FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<Self::Row, Rejection> + Send + 'static;

    /// The row's key in the results file (SKU, location code).
    fn key(row: &Self::Row) -> &str;

    /// Why the store did not write `row` (`outcome` is a refusal or a duplicate);
    /// `None` for a written row.
    fn refusal(row: &Self::Row, outcome: RowOutcome) -> Option<String>;

    /// Writes `rows` (with their input row numbers) under `write`, with the job's
    /// checkpoint, in one transaction that begins and records the checkpoint in `turn`;
    /// each row's outcome in input order.
    fn apply(
        &self,
        store: &CatalogStore,
        job: JobId,
        account: &AccountId,
        rows: &[(u64, Self::Row)],
        write: WriteMode,
        turn: BatchTurn,
    ) -> impl Future<Output = Result<AppliedBatch, bgjobs_database::Error>> + Send;

    /// What [`UploadRows::apply`] would refuse, writing nothing but the key claims
    /// of `attempt`: per row, `None` (would be written) or the refusal.
    fn check(
        &self,
        store: &CatalogStore,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        rows: &[(u64, Self::Row)],
        write: WriteMode,
    ) -> impl Future<Output = Result<Vec<Option<RowOutcome>>, bgjobs_database::Error>> + Send;
}

/// One delivery's upload of rows of type `R`.
pub struct Upload<'a, R> {
    /// The catalogue.
    pub store: &'a CatalogStore,
    /// Input and results files.
    pub objects: &'a ObjectStore,
    /// Batch size, progress interval and row limits.
    pub settings: &'a Settings,
    /// The delivery being processed.
    pub delivery: &'a Delivery<'a>,
    /// The row type, with what its parser and writes need (client, warehouses).
    pub rows: &'a R,
}

impl<R: UploadRows> Upload<'_, R> {
    /// Imports the file under the job's write mode: with all-or-nothing, checks every
    /// row before writing any. The job's key claims are dropped once it has ended: by
    /// the store with the mark that its results file is stored, or here when it failed.
    pub async fn import(&self, emitter: &mut Emitter) -> Result<Finished, Stop> {
        let write = write_mode(self.delivery)?;
        let ended = self.import_as(emitter, write).await;
        let attempt = self.delivery.attempt();
        if !matches!(ended, Ok(_) | Err(Stop::Retry(_) | Stop::Superseded(_)))
            && let Err(error) = self.store.clear_upload_keys(self.delivery.job, attempt).await
        {
            // Only space is lost: a retry attempt starts from row 0 and clears them.
            tracing::warn!(job_id = %self.delivery.job, %error, "the upload's key claims stay behind");
        }
        ended
    }

    async fn import_as(&self, emitter: &mut Emitter, write: WriteMode) -> Result<Finished, Stop> {
        let delivery = self.delivery;
        // A copy of the message delivered after the job ended does nothing at all. From
        // here on this delivery owns the attempt: an older one still running (its
        // broker connection dropped) writes nothing more. The checkpoint says how far
        // earlier deliveries of this attempt got; when they committed nothing, the
        // claim also forgot the keys they claimed, which must not make rows duplicates.
        let resume = self
            .store
            .claim_checkpoint(delivery.job, delivery.attempt(), delivery.number)
            .await
            .map_err(store_stop)?;
        let result_key = object_keys::results(&delivery.account, delivery.job);
        if resume.results_written {
            // Another delivery of this attempt (a copy of the message) did everything and
            // stored the results file: report the same end, write nothing. Its Completed
            // may have been lost with its worker; the registry ignores a second one.
            return Ok(imported(resume.rows_committed, resume.rows_rejected, result_key));
        }
        let check_first = delivery.flag("all_or_nothing") && resume.rows_committed == 0;
        if check_first {
            // Check the whole file before writing anything; a redelivery past the
            // first checkpoint already passed this check.
            let scan = Pass::check(self, write).run(emitter).await?;
            if scan.rejected > 0 {
                let message = format!(
                    "{} of {} rows are invalid; nothing was imported (all-or-nothing upload)",
                    thousands(scan.rejected),
                    thousands(scan.rows_read)
                );
                let counters = final_counters(scan.rows_read, scan.rejected);
                return Err(Stop::FailWithResults(Finished { message, counters, result_key }));
            }
            self.store
                .clear_upload_keys(delivery.job, delivery.attempt())
                .await
                .map_err(store_stop)?;
        }
        let done = Pass::write(self, write, resume, !check_first).run(emitter).await?;
        Ok(imported(done.rows_read, done.rejected, result_key))
    }
}

/// The end of an import of `rows_read` rows of which `rejected` were rejected.
fn imported(rows_read: u64, rejected: u64, result_key: String) -> Finished {
    let message = format!(
        "{} of {} rows imported, {} rejected",
        thousands(rows_read.saturating_sub(rejected)),
        thousands(rows_read),
        thousands(rejected)
    );
    Finished { message, counters: final_counters(rows_read, rejected), result_key }
}

/// The job's write mode (`write` parameter; create-or-update when absent).
fn write_mode(delivery: &Delivery<'_>) -> Result<WriteMode, Stop> {
    let Some(name) = delivery.text("write") else { return Ok(WriteMode::default()) };
    WriteMode::parse(&name).ok_or_else(|| {
        let known: Vec<&str> = WriteMode::ALL.iter().map(|mode| mode.as_str()).collect();
        Stop::Fail(format!(
            "the job's write mode '{name}' is not known; it must be one of {}",
            known.join(", ")
        ))
    })
}

fn final_counters(rows_read: u64, rejected: u64) -> Counters {
    Counters { rows_total: rows_read, rows_processed: rows_read, rows_rejected: rejected }
}

/// A store error: a client being deleted or gone fails the job (retrying cannot
/// help) with the store's own message; others as [`Stop::store`].
fn store_stop(error: bgjobs_database::Error) -> Stop {
    match error {
        deleting @ bgjobs_database::Error::ClientBeingDeleted { .. } => {
            Stop::Fail(format!("{deleting}; nothing more was imported"))
        }
        gone @ bgjobs_database::Error::ClientNotFound { .. } => Stop::Fail(gone.to_string()),
        other => Stop::store("the import failed", other),
    }
}

#[cfg(test)]
mod tests {
    use bgjobs_proto::v1::JobMessage;

    use super::*;

    fn write_mode_of(parameters_json: &str) -> Result<WriteMode, Stop> {
        let message =
            JobMessage { parameters_json: parameters_json.to_owned(), ..Default::default() };
        let delivery = Delivery {
            message: &message,
            job: JobId::new(),
            account: AccountId::parse("acme").expect("valid account"),
            number: 1,
        };
        write_mode(&delivery)
    }

    #[test]
    fn the_write_mode_comes_from_the_parameters_and_defaults_to_create_or_update() {
        assert_eq!(write_mode_of("{}"), Ok(WriteMode::CreateOrUpdate));
        assert_eq!(write_mode_of(r#"{"write": "update-only"}"#), Ok(WriteMode::UpdateOnly));
        assert_eq!(write_mode_of(r#"{"write": "create-only"}"#), Ok(WriteMode::CreateOnly));
    }

    #[test]
    fn an_unknown_write_mode_fails_the_job_naming_the_accepted_ones() {
        assert_eq!(
            write_mode_of(r#"{"write": "upsert"}"#),
            Err(Stop::Fail(
                "the job's write mode 'upsert' is not known; it must be one of create-or-update, create-only, update-only"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn a_client_being_deleted_or_gone_fails_the_upload_with_the_store_s_message() {
        let delete_job = JobId::new();
        let deleting =
            bgjobs_database::Error::ClientBeingDeleted { client_id: "c1".to_owned(), delete_job };
        assert_eq!(
            store_stop(deleting),
            Stop::Fail(format!(
                "client 'c1' is being deleted (job {delete_job}); nothing more was imported"
            ))
        );
        let gone = bgjobs_database::Error::ClientNotFound {
            account: AccountId::parse("acme").expect("valid account"),
            client_id: "c1".to_owned(),
        };
        assert_eq!(
            store_stop(gone),
            Stop::Fail(
                "client 'c1' does not exist in account acme; create the client first".to_owned()
            )
        );
    }
}
