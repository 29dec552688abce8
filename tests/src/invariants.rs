//! What every fault-injection scenario proves: every submitted job reaches
//! Completed or Error, the catalogue equals what a fault-free run of the same file
//! produces, no message log shows an illegal state transition, and no row is applied
//! twice.

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use bgjobs_domain::state_machine::{self, Decision, EventPosition, JobState};
use bgjobs_domain::worker_loss::{self, StallRecovery};
use bgjobs_domain::{AccountId, JobId, JobStatus};
use bgjobs_proto::convert::{event_kind_from_proto, job_status_from_proto};
use bgjobs_proto::v1::{Job, LogEntry};
use bgjobs_test_support::wait;
use sea_orm::{ConnectionTrait, Statement};

use crate::TestSystem;

/// How long a fault-free run of a scenario's file may take.
const FAULT_FREE_DEADLINE: Duration = Duration::from_secs(180);

/// Waits, at most `deadline`, until every job of `job_ids` is Completed or Error; returns
/// them in the order of `job_ids`. The failure names the jobs still running.
pub async fn assert_all_final(
    system: &TestSystem,
    job_ids: &[String],
    deadline: Duration,
) -> anyhow::Result<Vec<Job>> {
    let what = format!("all of {} job(s) to be Completed or Error", job_ids.len());
    let waited = wait::until(&what, deadline, || async {
        let mut jobs = Vec::with_capacity(job_ids.len());
        for job_id in job_ids {
            let job = system.job(job_id).await?;
            if !is_final(&job) {
                return Ok(None);
            }
            jobs.push(job);
        }
        Ok(Some(jobs))
    })
    .await;
    if waited.is_err() {
        let mut unfinished = Vec::new();
        for job_id in job_ids {
            let job = system.job(job_id).await?;
            if !is_final(&job) {
                unfinished.push(format!("{job_id} ({:?}: {})", job.status(), job.message));
            }
        }
        anyhow::bail!("after {deadline:?} these jobs are not final: {}", unfinished.join(", "));
    }
    waited
}

fn is_final(job: &Job) -> bool {
    job_status_from_proto(job.status).is_some_and(JobStatus::is_terminal)
}

/// Panics, printing the whole log, unless every line of `log` follows from the line
/// before it by the domain's rules: a worker event that changed the job is a transition
/// the state machine allows, a change the registry or an operator made (delivery 0) is
/// a retry, a stall recovery or a dead-lettering as `bgjobs_domain` defines them, no
/// two applied events share a position, and no event id appears twice.
pub fn assert_legal_transitions(log: &[LogEntry]) {
    if let Err(problem) = check_transitions(log) {
        let lines: Vec<String> = log.iter().map(describe).collect();
        panic!("illegal message log: {problem}\nthe whole log:\n{}", lines.join("\n"));
    }
}

/// The first rule `log` breaks (see [`assert_legal_transitions`]).
fn check_transitions(log: &[LogEntry]) -> Result<(), String> {
    let mut state = JobState::new_job();
    let mut applied_positions = std::collections::HashSet::new();
    let mut event_ids = std::collections::HashSet::new();
    for (index, entry) in log.iter().enumerate() {
        let line = index + 1;
        if !event_ids.insert(entry.event_id.as_str()) {
            return Err(format!("line {line}: event {} appears twice", entry.event_id));
        }
        let before = job_status_from_proto(entry.status_before)
            .ok_or_else(|| format!("line {line}: no status before"))?;
        let after = job_status_from_proto(entry.status_after)
            .ok_or_else(|| format!("line {line}: no status after"))?;
        let kind = event_kind_from_proto(entry.kind)
            .ok_or_else(|| format!("line {line}: no event kind"))?;
        if before != state.status {
            return Err(format!(
                "line {line}: starts from {before:?} but the line before left the job {:?}",
                state.status
            ));
        }
        if entry.ignored {
            if after != before {
                return Err(format!("line {line}: ignored, yet moved {before:?} -> {after:?}"));
            }
            continue;
        }
        let position = EventPosition {
            attempt: entry.attempt,
            delivery: entry.delivery,
            sequence: entry.sequence,
        };
        state = if entry.delivery == 0 {
            own_change(&state, entry.attempt, after)
                .ok_or_else(|| format!("line {line}: no rule moves a job {before:?} on attempt {} to {after:?} on attempt {}", state.attempt, entry.attempt))?
        } else {
            if !applied_positions.insert(position) {
                return Err(format!("line {line}: a second applied event at {position:?}"));
            }
            // The position's order was the registry's to check; here only the transition.
            let unordered = JobState { last_applied: None, ..state };
            match state_machine::apply(&unordered, position, kind) {
                Decision::Apply { status } if status == after => {
                    JobState { status, attempt: entry.attempt, last_applied: Some(position) }
                }
                decision => {
                    return Err(format!(
                        "line {line}: {kind:?} moved {before:?} -> {after:?}; the state machine says {decision:?}"
                    ));
                }
            }
        };
    }
    Ok(())
}

/// The state a change without a worker event (delivery 0) leads to, if one of the
/// domain's rules allows moving from `state` to `after` on `attempt`: a line that
/// changes nothing (an operator's note), a retry or replay, a stall recovery or a
/// dead-lettered message.
fn own_change(state: &JobState, attempt: u32, after: JobStatus) -> Option<JobState> {
    let reaches = |next: &JobState| next.status == after && next.attempt == attempt;
    if after == state.status && attempt == state.attempt {
        return Some(*state);
    }
    let retried = state_machine::retry(state).ok();
    let recovered =
        worker_loss::recover_stalled(state, 0, attempt.max(state.attempt + 1)).map(|recovery| {
            match recovery {
                StallRecovery::Requeue { state, .. } | StallRecovery::Fail { state, .. } => state,
            }
        });
    // The last attempt's stall recovery fails the job on the same attempt.
    let recovered_last =
        worker_loss::recover_stalled(state, 0, state.attempt).map(|recovery| match recovery {
            StallRecovery::Requeue { state, .. } | StallRecovery::Fail { state, .. } => state,
        });
    let dead_lettered = worker_loss::fail_dead_lettered(state, attempt);
    [retried, recovered, recovered_last, dead_lettered].into_iter().flatten().find(reaches)
}

fn describe(entry: &LogEntry) -> String {
    format!(
        "  {}/{}/{} {:?} {:?} -> {:?}{} by {}: {}",
        entry.attempt,
        entry.delivery,
        entry.sequence,
        entry.kind(),
        entry.status_before(),
        entry.status_after(),
        if entry.ignored { format!(" (ignored: {})", entry.ignore_reason) } else { String::new() },
        entry.actor,
        entry.message
    )
}

/// A digest of `client`'s products in `account`: every column an upload writes (not
/// the account, timestamps or job id, which differ between runs), in SKU order. Two
/// catalogues with the same digest hold the same products with the same values.
pub async fn catalogue_checksum(
    system: &TestSystem,
    account: &AccountId,
    client: &str,
) -> anyhow::Result<String> {
    let connection = system.store.connection();
    // A row's text form tells NULL from an empty string; "C" collation sorts the same
    // everywhere.
    let sql = r#"
        SELECT count(*)::text || ':' || md5(coalesce(string_agg(
            ROW(sku, name, description, barcode, weight_kg, length_cm, width_cm, height_cm,
                price, hs_code, country_of_origin)::text,
            E'\n' ORDER BY sku COLLATE "C"), '')) AS checksum
        FROM catalog.products WHERE account_id = $1 AND client_id = $2"#;
    let statement = Statement::from_sql_and_values(
        connection.get_database_backend(),
        sql,
        [account.as_str().into(), client.into()],
    );
    let row = connection.query_one(statement).await?.context("the checksum query gave no row")?;
    Ok(row.try_get("", "checksum")?)
}

/// How many deletions of `client` of the system's account are recorded as begun and
/// not finished: a deletion that failed half-way leaves one, and the client's
/// uploads then keep failing.
pub async fn begun_deletions(system: &TestSystem, client: &str) -> anyhow::Result<i64> {
    let connection = system.store.connection();
    let sql = "SELECT count(*) AS begun FROM catalog.client_deletions_begun \
               WHERE account_id = $1 AND client_id = $2";
    let statement = Statement::from_sql_and_values(
        connection.get_database_backend(),
        sql,
        [system.account.as_str().into(), client.into()],
    );
    let row = connection.query_one(statement).await?.context("the count gave no row")?;
    Ok(row.try_get("", "begun")?)
}

/// The checksum of the catalogue a fault-free run of `file` produces: a fresh system
/// (consumers in-process, nothing injected) uploads it for its client and must complete.
/// Scenarios of one test run that upload the same file share one such run.
pub async fn fault_free_checksum(file: &str) -> anyhow::Result<String> {
    static COMPUTED: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let mut hasher = std::hash::DefaultHasher::new();
    file.hash(&mut hasher);
    let key = hasher.finish();
    let known = |computed: &[(u64, String)]| {
        computed.iter().find(|(file, _)| *file == key).map(|(_, checksum)| checksum.clone())
    };
    if let Some(checksum) = known(&COMPUTED.lock().unwrap_or_else(PoisonError::into_inner)) {
        return Ok(checksum);
    }
    let checksum = run_fault_free(file).await?;
    COMPUTED.lock().unwrap_or_else(PoisonError::into_inner).push((key, checksum.clone()));
    Ok(checksum)
}

async fn run_fault_free(file: &str) -> anyhow::Result<String> {
    let system = TestSystem::start().await?;
    let checksum = async {
        let job_id = system.submit_products(file.to_owned()).await?;
        let job = system.finished_job(&job_id, FAULT_FREE_DEADLINE).await?;
        anyhow::ensure!(
            job_status_from_proto(job.status) == Some(JobStatus::Completed),
            "the fault-free run did not complete: {}",
            job.message
        );
        catalogue_checksum(&system, &system.account, &system.client_id).await
    }
    .await;
    system.stop().await?;
    checksum
}

/// Fails unless `job` (a product upload of `rows` rows, `valid_rows` of them valid,
/// into an empty catalogue) applied every valid row exactly once: its final checkpoint
/// counts each valid row created once and none updated or unchanged (a replayed row
/// would count as one of those), the client has exactly `valid_rows` products, and the
/// results file has one line per input row.
pub async fn assert_applied_once(
    system: &TestSystem,
    job: &Job,
    rows: u64,
    valid_rows: u64,
) -> anyhow::Result<()> {
    let job_id: JobId = job.job_id.parse()?;
    let checkpoint =
        system.store.catalog().checkpoint(job_id).await?.context("the job has no checkpoint")?;
    anyhow::ensure!(
        checkpoint.attempt == job.attempt,
        "the checkpoint is of attempt {}, the job of attempt {}",
        checkpoint.attempt,
        job.attempt
    );
    let counted = (
        checkpoint.rows_committed,
        checkpoint.rows_created,
        checkpoint.rows_updated,
        checkpoint.rows_unchanged,
        checkpoint.rows_rejected,
    );
    anyhow::ensure!(
        counted == (rows, valid_rows, 0, 0, rows - valid_rows),
        "the checkpoint counts (committed, created, updated, unchanged, rejected) = {counted:?}, \
         expected every valid row created once: {:?}",
        (rows, valid_rows, 0, 0, rows - valid_rows)
    );
    let products =
        system.store.catalog().count_products(&system.account, &system.client_id).await?;
    anyhow::ensure!(products == valid_rows, "{products} products, expected {valid_rows}");
    let records = system.results_records(job).await?;
    let numbers: Vec<&str> = records.iter().skip(1).map(|record| record[0].as_str()).collect();
    let expected: Vec<String> = (1..=rows).map(|row| row.to_string()).collect();
    anyhow::ensure!(
        numbers == expected,
        "the results file does not have exactly one line per input row in order \
         ({} lines for {rows} rows)",
        numbers.len()
    );
    Ok(())
}

/// Fails unless `job` is Completed on `attempt`, naming how it ended otherwise.
pub fn ensure_completed_on(job: &Job, attempt: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        job_status_from_proto(job.status) == Some(JobStatus::Completed) && job.attempt == attempt,
        "the job ended {:?} on attempt {}: {}",
        job.status(),
        job.attempt,
        job.message
    );
    Ok(())
}

/// The rows of a product file that validation accepts: `rows` minus the bad ones.
pub fn valid_rows(rows: u64, bad_rows: &[u64]) -> u64 {
    rows - bad_rows.iter().filter(|row| (1..=rows).contains(row)).count() as u64
}

#[cfg(test)]
mod tests;
