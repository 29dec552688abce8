//! The `notifier` schema: one row per job outcome to email, written only by the notifier.
//!
//! A row is recorded when the job's terminal event arrives (any number of times: the
//! key is the job, the attempt and the outcome), then claimed by one sender for a lease,
//! sent, finished (sent, failed or skipped) and finally noted in the job's message log.
//! A sender that dies holding a claim loses it when the lease runs out.

use std::time::Duration;

use bgjobs_domain::{AccountId, JobId};
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, FromQueryResult, Statement, TransactionTrait, Value,
};

use crate::Error;
use crate::convert::{parse, read_u32, write_i32, write_i64};
use crate::jobs::Counters;

/// The cursor of the registry's own moves to Error.
const REGISTRY_FAILURES: &str = "registry_failures";
/// How far before its cursor the registry's log is read again: longer than a
/// transaction can stay open (the database ends idle ones within seconds).
pub const REGISTRY_FAILURES_LOOK_BACK: Duration = Duration::from_secs(300);

/// How a job ended, as far as its email is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The attempt completed.
    Completed,
    /// The attempt failed.
    Failed,
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not sent yet: due at its next try.
    Pending,
    /// The mail server accepted it.
    Sent,
    /// It cannot be delivered (refused for good, or the retry deadline passed).
    Failed,
    /// Nobody is to be emailed about the job.
    Skipped,
}

impl Outcome {
    /// The name stored in the table (and used in Message-IDs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        named(&[Self::Completed, Self::Failed], Self::as_str, text)
    }
}

impl State {
    /// The name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl std::str::FromStr for State {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        named(&[Self::Pending, Self::Sent, Self::Failed, Self::Skipped], Self::as_str, text)
    }
}

/// The one of `all` whose stored name is `text`.
fn named<T: Copy>(all: &[T], name: fn(T) -> &'static str, text: &str) -> Result<T, ()> {
    all.iter().copied().find(|value| name(*value) == text).ok_or(())
}

/// The key of a notification: one email per job outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The job.
    pub job_id: JobId,
    /// The attempt that ended.
    pub attempt: u32,
    /// How it ended.
    pub outcome: Outcome,
}

/// A terminal event to notify about, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Which job outcome.
    pub key: Key,
    /// The job's account.
    pub account_id: AccountId,
    /// The event's message ("998 of 1,000 rows imported, 2 rejected", or the error).
    pub message: String,
    /// The event's counters, when it carried them.
    pub counters: Option<Counters>,
    /// The results file the event named, if any.
    pub result_object_key: Option<String>,
    /// When the job ended.
    pub occurred_at: DateTime<Utc>,
    /// How long sending may be retried before it counts as failed.
    pub give_up_after: Duration,
}

/// A notification as a sender claims it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Which job outcome.
    pub key: Key,
    /// The job's account.
    pub account_id: AccountId,
    /// The terminal event's message.
    pub message: String,
    /// The terminal event's counters.
    pub counters: Option<Counters>,
    /// The results file the event named.
    pub result_object_key: Option<String>,
    /// When the job ended.
    pub occurred_at: DateTime<Utc>,
    /// Where it stands.
    pub state: State,
    /// Who it was sent (or meant) to, once known.
    pub recipient: Option<String>,
    /// Sending attempts so far, this claim's included.
    pub tries: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// After this a temporary failure is final.
    pub give_up_at: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct Row {
    job_id: uuid::Uuid,
    attempt: i32,
    outcome: String,
    account_id: String,
    message: String,
    rows_total: Option<i64>,
    rows_processed: Option<i64>,
    rows_rejected: Option<i64>,
    result_object_key: Option<String>,
    occurred_at: DateTime<Utc>,
    state: String,
    recipient: Option<String>,
    tries: i32,
    last_error: Option<String>,
    give_up_at: DateTime<Utc>,
}

impl TryFrom<Row> for Notification {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self, Error> {
        let counters = Counters::from_columns(
            "notification",
            (row.rows_total, row.rows_processed, row.rows_rejected),
        )?;
        Ok(Self {
            key: Key {
                job_id: JobId::from(row.job_id),
                attempt: read_u32("attempt", row.attempt)?,
                outcome: parse("outcome", &row.outcome)?,
            },
            account_id: AccountId::parse(&row.account_id)
                .map_err(|_| Error::Corrupt(format!("account_id is '{}'", row.account_id)))?,
            message: row.message,
            counters,
            result_object_key: row.result_object_key,
            occurred_at: row.occurred_at,
            state: parse("state", &row.state)?,
            recipient: row.recipient,
            tries: read_u32("tries", row.tries)?,
            last_error: row.last_error,
            give_up_at: row.give_up_at,
        })
    }
}

/// The notifier's handle on its schema. Clones share one connection pool.
#[derive(Clone)]
pub struct NotificationsStore {
    pub(crate) connection: DatabaseConnection,
}

impl std::fmt::Debug for NotificationsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationsStore").finish_non_exhaustive()
    }
}

impl NotificationsStore {
    /// Records a job outcome to notify about; `false` when it was already recorded
    /// (a redelivered or repeated terminal event), which changes nothing.
    pub async fn record(&self, new: &NewNotification) -> Result<bool, Error> {
        let counters = new.counters.map(stored_counters).transpose()?;
        let sql = "INSERT INTO notifier.notifications (job_id, attempt, outcome, account_id, \
                   message, rows_total, rows_processed, rows_rejected, result_object_key, \
                   occurred_at, state, give_up_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', \
                   now() + make_interval(secs => $11)) \
                   ON CONFLICT (job_id, attempt, outcome) DO NOTHING";
        let mut values = key_values(new.key)?;
        values.extend([
            new.account_id.as_str().into(),
            new.message.as_str().into(),
            counters.map(|c| c[0]).into(),
            counters.map(|c| c[1]).into(),
            counters.map(|c| c[2]).into(),
            new.result_object_key.clone().into(),
            new.occurred_at.into(),
            new.give_up_after.as_secs_f64().into(),
        ]);
        let result = self.execute(sql, values).await?;
        Ok(result == 1)
    }

    /// Records a failed outcome for every job the registry itself moved to Error (a
    /// dead-lettered message, a worker lost for good: no worker event says so) since
    /// this was last called, each retried for `give_up_after`; answers how many were
    /// new. The first call starts from now: earlier failures are not emailed.
    ///
    /// It reads the `jobs` schema's log from a cursor kept in `notifier.cursors`, with
    /// a look-back of [`REGISTRY_FAILURES_LOOK_BACK`]: a log line's time is taken before
    /// its transaction commits, so a line can appear behind the cursor; lines read twice
    /// are recorded once (the notification's key).
    pub async fn record_registry_failures(&self, give_up_after: Duration) -> Result<u64, Error> {
        let transaction = self.connection.begin().await?;
        let backend = self.connection.get_database_backend();
        let run =
            |sql: &str, values: Vec<Value>| Statement::from_sql_and_values(backend, sql, values);
        transaction
            .execute(run(
                "INSERT INTO notifier.cursors (name, position) VALUES ($1, now())                  ON CONFLICT (name) DO NOTHING",
                vec![REGISTRY_FAILURES.into()],
            ))
            .await?;
        // Locked until commit: replicas take turns, each reading from where the last left.
        let position = "(SELECT position FROM notifier.cursors WHERE name = $1 FOR UPDATE)";
        let failures = format!(
            "FROM jobs.job_events AS e \
             WHERE e.delivery = 0 AND e.status_after = 'error' AND e.status_before <> 'error' \
               AND e.recorded_at >= {position} - make_interval(secs => $2)"
        );
        let look_back = REGISTRY_FAILURES_LOOK_BACK.as_secs_f64();
        let inserted = transaction
            .execute(run(
                &format!(
                    "INSERT INTO notifier.notifications (job_id, attempt, outcome, account_id, \
                     message, occurred_at, state, give_up_at) \
                     SELECT e.job_id, e.attempt, 'failed', e.account_id, e.message, e.occurred_at, \
                            'pending', now() + make_interval(secs => $3) {failures} \
                     ON CONFLICT (job_id, attempt, outcome) DO NOTHING"
                ),
                vec![
                    REGISTRY_FAILURES.into(),
                    look_back.into(),
                    give_up_after.as_secs_f64().into(),
                ],
            ))
            .await?
            .rows_affected();
        transaction
            .execute(run(
                &format!(
                    "UPDATE notifier.cursors SET position = GREATEST(position, \
                     COALESCE((SELECT max(e.recorded_at) {failures}), position)) WHERE name = $1"
                ),
                vec![REGISTRY_FAILURES.into(), look_back.into()],
            ))
            .await?;
        transaction.commit().await?;
        Ok(inserted)
    }

    /// Claims up to `limit` notifications that are due, for `lease`, on behalf of
    /// `claimant`: pending ones to send and finished ones whose log line is missing.
    /// Rows another sender holds (its lease not run out) are skipped, so replicas share
    /// the work without waiting on each other. A pending row's `tries` counts this claim.
    pub async fn claim_due(
        &self,
        claimant: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Notification>, Error> {
        let sql = "UPDATE notifier.notifications AS n \
                   SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2), \
                       tries = n.tries + CASE WHEN n.state = 'pending' THEN 1 ELSE 0 END \
                   FROM (SELECT job_id, attempt, outcome FROM notifier.notifications \
                         WHERE noted_at IS NULL AND next_try_at <= now() \
                           AND (claimed_until IS NULL OR claimed_until < now()) \
                         ORDER BY next_try_at LIMIT $3 FOR UPDATE SKIP LOCKED) AS due \
                   WHERE n.job_id = due.job_id AND n.attempt = due.attempt \
                     AND n.outcome = due.outcome \
                   RETURNING n.*";
        let values: Vec<Value> =
            vec![claimant.into(), lease.as_secs_f64().into(), i64::from(limit).into()];
        let backend = self.connection.get_database_backend();
        let rows = Row::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(&self.connection)
            .await?;
        rows.into_iter().map(Notification::try_from).collect()
    }

    /// Ends a pending notification: `state` (sent, failed or skipped) for `recipient`,
    /// with the error that made it fail. `false` when it was no longer pending (another
    /// sender, whose lease had run out, finished it first). The claim is kept: the
    /// caller goes on to note it in the job's log.
    pub async fn finish(
        &self,
        key: Key,
        state: State,
        recipient: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool, Error> {
        let sql = "UPDATE notifier.notifications \
                   SET state = $4, recipient = $5, last_error = $6, finished_at = now() \
                   WHERE job_id = $1 AND attempt = $2 AND outcome = $3 AND state = 'pending'";
        let mut values = key_values(key)?;
        values.extend([
            state.as_str().into(),
            recipient.map(str::to_owned).into(),
            error.map(str::to_owned).into(),
        ]);
        Ok(self.execute(sql, values).await? == 1)
    }

    /// Records that the job's log says what became of the email; the row is done.
    pub async fn noted(&self, key: Key) -> Result<(), Error> {
        let sql = "UPDATE notifier.notifications \
                   SET noted_at = now(), claimed_until = NULL, claimed_by = NULL \
                   WHERE job_id = $1 AND attempt = $2 AND outcome = $3";
        self.execute(sql, key_values(key)?).await.map(|_| ())
    }

    /// Releases the claim and makes the row due again after `delay`, keeping `error`
    /// (a temporary failure to send, or to note) as its last error.
    pub async fn try_later(&self, key: Key, delay: Duration, error: &str) -> Result<(), Error> {
        let sql = "UPDATE notifier.notifications \
                   SET next_try_at = now() + make_interval(secs => $4), last_error = $5, \
                       claimed_until = NULL, claimed_by = NULL \
                   WHERE job_id = $1 AND attempt = $2 AND outcome = $3";
        let mut values = key_values(key)?;
        values.extend([delay.as_secs_f64().into(), error.into()]);
        self.execute(sql, values).await.map(|_| ())
    }

    /// The notification of `key`, as it stands.
    pub async fn get(&self, key: Key) -> Result<Option<Notification>, Error> {
        let sql = "SELECT * FROM notifier.notifications \
                   WHERE job_id = $1 AND attempt = $2 AND outcome = $3";
        let backend = self.connection.get_database_backend();
        Row::find_by_statement(Statement::from_sql_and_values(backend, sql, key_values(key)?))
            .one(&self.connection)
            .await?
            .map(Notification::try_from)
            .transpose()
    }

    async fn execute(&self, sql: &str, values: Vec<Value>) -> Result<u64, Error> {
        let backend = self.connection.get_database_backend();
        let result =
            self.connection.execute(Statement::from_sql_and_values(backend, sql, values)).await?;
        Ok(result.rows_affected())
    }
}

/// `$1, $2, $3`: the key's job, attempt and outcome.
fn key_values(key: Key) -> Result<Vec<Value>, Error> {
    Ok(vec![
        key.job_id.as_uuid().into(),
        write_i32("attempt", key.attempt)?.into(),
        key.outcome.as_str().into(),
    ])
}

fn stored_counters(counters: Counters) -> Result<[i64; 3], Error> {
    Ok([
        write_i64("rows_total", counters.rows_total)?,
        write_i64("rows_processed", counters.rows_processed)?,
        write_i64("rows_rejected", counters.rows_rejected)?,
    ])
}
