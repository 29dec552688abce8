//! Lines added to a job's message log by services other than its worker, on a job in
//! any status (the notifier's "email sent to …").

use bgjobs_domain::{AccountId, JobId, JobStatus};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, TryInsertResult,
};
use uuid::Uuid;

use super::Job;
use super::operator::log_line;
use crate::entities::{job_events as log_rows, jobs as job_rows};
use crate::{Error, JobsStore};

/// A line for a job's message log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Chosen by the writer: the same note written twice is recorded once.
    pub note_id: Uuid,
    /// The attempt the note is about.
    pub attempt: u32,
    /// Who writes it; the log line's actor.
    pub actor: String,
    /// The line.
    pub message: String,
    /// Write the line only while the job is New in `attempt`.
    pub only_while_new: bool,
}

impl JobsStore {
    /// Adds `note` to the log of `job` without changing the job. `Some(false)` when a
    /// note with its id is already recorded, or when the note is only for a New job and
    /// the job is no longer New in its attempt; `None` when the account has no such job.
    ///
    /// The job's row is locked while the line is written, as the applier locks it, so
    /// the status the line shows is the job's status at its place in the log.
    pub async fn add_note(
        &self,
        account: &AccountId,
        job: JobId,
        note: &Note,
    ) -> Result<Option<bool>, Error> {
        let transaction = self.connection.begin().await?;
        let Some(row) = job_rows::Entity::find_by_id(job.as_uuid())
            .filter(job_rows::Column::AccountId.eq(account.as_str()))
            .lock_shared()
            .one(&transaction)
            .await?
        else {
            return Ok(None);
        };
        let job = Job::try_from(row)?;
        if note.only_while_new && (job.status != JobStatus::New || job.attempt != note.attempt) {
            return Ok(Some(false));
        }
        let inserted =
            log_line(note.note_id, &job, note.attempt, job.status, &note.actor, &note.message)?
                .on_conflict(OnConflict::column(log_rows::Column::EventId).do_nothing().to_owned())
                .do_nothing()
                .exec(&transaction)
                .await?;
        transaction.commit().await?;
        Ok(Some(matches!(inserted, TryInsertResult::Inserted(_))))
    }
}
