//! A Delete Client job: the whole life of one delivery.
//!
//! The client's rows are deleted in batches, each committed together with the job's
//! per-table count (see `bgjobs_database::catalog::delete_client`), the client row
//! last. A redelivered message carries on where the last committed batch left off,
//! and its summary still counts everything the job deleted. Before the first batch
//! the deletion records that it has begun, after which the client's uploads write
//! nothing more. A dry run only counts, and holds up nobody.

use std::time::Instant;

use bgjobs_consumer::{Connections, Delivery, Emitter, Finished, Job, Stop};
use bgjobs_database::catalog::delete_client::{
    CLIENT_OWNED_TABLES, CLIENTS_TABLE, DeleteStep, TableRows,
};
use bgjobs_domain::object_keys;
use bgjobs_domain::{EventKind, JobId, JobType};
use bgjobs_object_store::ObjectMetadata;
use bgjobs_proto::v1::Counters;
use bytes::Bytes;

use crate::settings::Settings;
use crate::summary::{self, Mode};
use crate::wait::{self, Blocked};

/// The delete-client job type.
#[derive(Clone)]
pub struct DeleteClient {
    connections: Connections,
    settings: Settings,
}

impl Job for DeleteClient {
    const TYPE: JobType = JobType::DeleteClient;
    const JOBS: &'static str = "client deletions";
    type Settings = Settings;

    fn new(connections: Connections, settings: &Settings) -> Self {
        Self { connections, settings: settings.clone() }
    }

    async fn run(&self, delivery: &Delivery<'_>, emitter: &mut Emitter) -> Result<Finished, Stop> {
        Run { job: self, delivery }.delete(emitter).await
    }
}

/// One delivery's deletion.
struct Run<'a> {
    job: &'a DeleteClient,
    delivery: &'a Delivery<'a>,
}

impl Run<'_> {
    async fn delete(&self, emitter: &mut Emitter) -> Result<Finished, Stop> {
        let store = &self.job.connections.store;
        let client_id = self.delivery.client_id().ok_or_else(|| {
            Stop::Fail("the job names no client; choose the client to delete".to_owned())
        })?;
        let mode = if self.delivery.flag("dry_run") { Mode::DryRun } else { Mode::Delete };

        // An earlier delivery of this job may have deleted everything, the client row
        // last, and stopped before reporting: the job is then done, not "unknown client".
        let done_so_far = store
            .client_deletion_progress(self.delivery.job, &self.delivery.account)
            .await
            .map_err(store_stop)?;
        let client_row_deleted = done_so_far.iter().any(|counted| counted.table == CLIENTS_TABLE);
        if mode == Mode::Delete && client_row_deleted {
            return self.finish(mode, &done_so_far).await;
        }
        if mode == Mode::Delete {
            // Before looking at the client: a running upload may still create it.
            let settings = &self.job.settings;
            wait::for_running_uploads(
                store,
                emitter,
                &self.delivery.account,
                &client_id,
                settings.consumer.progress_interval,
                settings.lock_wait,
            )
            .await
            .map_err(|blocked| match blocked {
                Blocked::StillRunning(cause) | Blocked::Fault(cause) => Stop::Retry(cause),
            })?;
        }
        let client_name =
            store.client_name(&self.delivery.account, &client_id).await.map_err(store_stop)?;
        let Some(client_name) = client_name else {
            // Deleting a deleted client again changes nothing and says who deleted it;
            // a client that never existed is more likely a mistyped id: that fails.
            let deleted_by = store
                .client_deleted_by(&self.delivery.account, &client_id)
                .await
                .map_err(store_stop)?;
            return match deleted_by {
                // Another delivery of this job (running beside this one) deleted it
                // since the check above: report the job's deletion, not "nothing".
                Some(earlier) if earlier == self.delivery.job => {
                    let deleted = store
                        .client_deletion_progress(self.delivery.job, &self.delivery.account)
                        .await
                        .map_err(store_stop)?;
                    self.finish(mode, &deleted).await
                }
                Some(earlier) => self.finish_already_deleted(mode, &client_id, earlier).await,
                None => Err(Stop::Fail(format!(
                    "client '{client_id}' does not exist in account {}",
                    self.delivery.account
                ))),
            };
        };
        // The page asks for the client's name typed to confirm; only this consumer
        // knows the name, so it checks, before anything is deleted.
        if let Some(typed) = self.delivery.text("confirm_name")
            && mode == Mode::Delete
            && !summary::confirms(&typed, &client_name)
        {
            return Err(Stop::Fail(summary::wrong_name_message(&typed, &client_id)));
        }
        if mode == Mode::Delete {
            // From here on uploads of the client write nothing more; a batch that was
            // writing is committed first and so counted among what goes.
            store
                .begin_client_deletion(
                    self.delivery.job,
                    self.delivery.attempt(),
                    &self.delivery.account,
                    &client_id,
                )
                .await
                .map_err(store_stop)?;
        }
        let remaining = store
            .client_data_counts(&self.delivery.account, &client_id)
            .await
            .map_err(store_stop)?;
        match mode {
            Mode::DryRun => {
                let message = summary::dry_run_message(&remaining, &client_name);
                let mut would_delete = remaining.clone();
                would_delete.push(TableRows { table: CLIENTS_TABLE, rows: 1 });
                self.finish_with(mode, &would_delete, &remaining, true, message).await
            }
            Mode::Delete => {
                self.delete_in_batches(emitter, &client_id, &done_so_far, &remaining).await?;
                let deleted = store
                    .client_deletion_progress(self.delivery.job, &self.delivery.account)
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
        let settings = &self.job.settings.consumer;
        // Batch sizes are at most 10,000 (see the settings): the conversion is lossless.
        let batch_size = settings.batch_size as u64;
        let earlier: u64 = done_so_far.iter().map(|counted| counted.rows).sum();
        // Every client-owned row, then the client row itself.
        let total = earlier + remaining.iter().map(|counted| counted.rows).sum::<u64>() + 1;
        let mut deleted = earlier;
        let mut this_delivery: Vec<TableRows> = Vec::new();
        let mut last_progress = Instant::now();
        loop {
            let step = self
                .job
                .connections
                .store
                .delete_client_batch(
                    self.delivery.job,
                    self.delivery.attempt(),
                    &self.delivery.account,
                    client_id,
                    batch_size,
                )
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
        let message = summary::completion_message(mode, &owned, client_row);
        self.finish_with(mode, counts, &owned, client_row, message).await
    }

    /// Completes a job whose client an earlier job `earlier` already deleted: nothing
    /// to delete, and the results file says so (every count 0).
    async fn finish_already_deleted(
        &self,
        mode: Mode,
        client_id: &str,
        earlier: JobId,
    ) -> Result<Finished, Stop> {
        let owned: Vec<TableRows> =
            CLIENT_OWNED_TABLES.iter().map(|&table| TableRows { table, rows: 0 }).collect();
        let message = summary::already_deleted_message(mode, client_id, earlier);
        self.finish_with(mode, &[], &owned, false, message).await
    }

    async fn finish_with(
        &self,
        mode: Mode,
        counts: &[TableRows],
        owned: &[TableRows],
        client_row: bool,
        message: String,
    ) -> Result<Finished, Stop> {
        let contents = summary::results_csv(mode, owned, client_row)
            .map_err(|error| Stop::Retry(format!("writing the results file failed: {error}")))?;
        let result_key = object_keys::results(&self.delivery.account, self.delivery.job);
        let metadata = ObjectMetadata {
            content_type: "text/csv; charset=utf-8".to_owned(),
            original_file_name: Some("results.csv".to_owned()),
        };
        self.job
            .connections
            .objects
            .put_bytes(&result_key, Bytes::from(contents), &metadata)
            .await
            .map_err(|error| Stop::Retry(format!("storing the results file failed: {error}")))?;
        let rows: u64 = counts.iter().map(|counted| counted.rows).sum();
        let counters = match mode {
            Mode::DryRun => Counters { rows_total: rows, rows_processed: 0, rows_rejected: 0 },
            Mode::Delete => Counters { rows_total: rows, rows_processed: rows, rows_rejected: 0 },
        };
        Ok(Finished { message, counters, result_key })
    }
}

fn rows_of(counts: &[TableRows], table: &str) -> u64 {
    counts.iter().filter(|counted| counted.table == table).map(|counted| counted.rows).sum()
}

fn store_stop(error: bgjobs_database::Error) -> Stop {
    Stop::store("the deletion failed", error)
}
