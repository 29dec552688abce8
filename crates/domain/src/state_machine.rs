//! The job state machine (docs/architecture.md, "Job state machine"), as pure functions.
//!
//! ```text
//! New ──Started──► In Progress ──Progress──► In Progress
//! New ──Failed───► Error            In Progress ──Completed──► Completed (final)
//! In Progress ──Failed──► Error     Error ──Retry (attempt+1)──► New
//! ```
//!
//! Every event is recorded in the job's message log; [`apply`] decides whether it
//! also changes the job. Events are ordered by [`EventPosition`]; an event at or
//! before the last applied position (a duplicate or a late arrival) and an event of
//! an older attempt never change the job, so a job never moves backwards. Events of
//! one job can arrive in any order (several registry replicas share the event
//! consumer): a Progress, Log or Completed that arrives before its Started is held
//! ([`IgnoreReason::AwaitingStart`]) and applied after it, so the state reached is
//! the same whatever the order of arrival.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::job::JobStatus;

/// What a job event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A worker took the job.
    Started,
    /// A heartbeat with counters.
    Progress,
    /// A line for the message log; never changes the status.
    Log,
    /// The job finished.
    Completed,
    /// The job failed.
    Failed,
}

impl EventKind {
    /// The machine name, as stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Progress => "progress",
            Self::Log => "log",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Started, Self::Progress, Self::Log, Self::Completed, Self::Failed]
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown event kind '{text}'"))
    }
}

/// Where an event stands in a job's history: attempt, then delivery of that
/// attempt's message (redeliveries restart a worker), then the worker's sequence.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct EventPosition {
    /// The job's attempt the event belongs to (1 for the first run).
    pub attempt: u32,
    /// 1 for the first delivery of the attempt's message, +1 per redelivery.
    pub delivery: u32,
    /// 1, 2, 3... within one delivery.
    pub sequence: u64,
}

/// What the state machine needs to know of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    /// The current status.
    pub status: JobStatus,
    /// The current attempt (starts at 1, +1 per retry).
    pub attempt: u32,
    /// The position of the last event that changed the job, if any in this attempt.
    pub last_applied: Option<EventPosition>,
}

impl JobState {
    /// A freshly created job: New, attempt 1, nothing applied.
    pub fn new_job() -> Self {
        Self { status: JobStatus::New, attempt: 1, last_applied: None }
    }
}

/// What to do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply it: the job's status becomes `status` (possibly unchanged, as for
    /// Progress), its counters and message follow the event, and the event's
    /// position becomes the last applied one.
    Apply {
        /// The status after the event.
        status: JobStatus,
    },
    /// Record it in the message log only; the job does not change.
    Ignore(IgnoreReason),
}

/// Why an event does not change the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The event belongs to an attempt before the current one.
    OlderAttempt {
        /// The event's attempt.
        event_attempt: u32,
        /// The job's current attempt.
        current_attempt: u32,
    },
    /// The event claims an attempt the job has not reached.
    UnknownAttempt {
        /// The event's attempt.
        event_attempt: u32,
        /// The job's current attempt.
        current_attempt: u32,
    },
    /// The event is at or before the last applied one: a duplicate or late event.
    OutOfOrder,
    /// The event belongs to the current attempt, but the Started event before it has
    /// not arrived yet (events of one job can arrive in any order). It is held, and
    /// applied in its place once that Started is applied.
    AwaitingStart {
        /// The event's kind.
        kind: EventKind,
    },
    /// The job's status does not allow this event.
    NotAllowed {
        /// The job's status.
        status: JobStatus,
        /// The event's kind.
        kind: EventKind,
    },
    /// The event names a results file that is not the job's own: results keys are
    /// derived from the account and the job id, never taken from an event
    /// ([`crate::object_keys`]).
    ForeignResultKey {
        /// The event's kind.
        kind: EventKind,
    },
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OlderAttempt { event_attempt, current_attempt } => write!(
                f,
                "event of attempt {event_attempt} ignored: the job is on attempt {current_attempt}"
            ),
            Self::UnknownAttempt { event_attempt, current_attempt } => write!(
                f,
                "event of attempt {event_attempt} ignored: the job has only reached attempt {current_attempt}"
            ),
            Self::OutOfOrder => f.write_str("late or duplicate event ignored"),
            Self::AwaitingStart { kind } => write!(
                f,
                "{} event held: it applies once the job's Started event arrives",
                kind.as_str()
            ),
            Self::NotAllowed { status, kind } => {
                write!(f, "{} event ignored: the job is {}", kind.as_str(), status.display_name())
            }
            Self::ForeignResultKey { kind } => write!(
                f,
                "{} event ignored: its results key is not this job's results file",
                kind.as_str()
            ),
        }
    }
}

impl IgnoreReason {
    /// True when the event is only waiting for an earlier one ([`Self::AwaitingStart`]):
    /// it must be decided again once the job has moved on.
    pub fn is_held(&self) -> bool {
        matches!(self, Self::AwaitingStart { .. })
    }
}

/// Decides what an event at `position` of kind `kind` does to a job in `state`.
pub fn apply(state: &JobState, position: EventPosition, kind: EventKind) -> Decision {
    if position.attempt < state.attempt {
        return Decision::Ignore(IgnoreReason::OlderAttempt {
            event_attempt: position.attempt,
            current_attempt: state.attempt,
        });
    }
    if position.attempt > state.attempt {
        return Decision::Ignore(IgnoreReason::UnknownAttempt {
            event_attempt: position.attempt,
            current_attempt: state.attempt,
        });
    }
    if state.last_applied.is_some_and(|last| position <= last) {
        return Decision::Ignore(IgnoreReason::OutOfOrder);
    }
    use EventKind as Event;
    use JobStatus as Status;
    let next = match (state.status, kind) {
        (Status::New, Event::Started) => Status::InProgress,
        (Status::New, Event::Failed) => Status::Error,
        // A redelivered message restarts the attempt: the worker says Started again.
        (Status::InProgress, Event::Started | Event::Progress | Event::Log) => Status::InProgress,
        (Status::InProgress, Event::Completed) => Status::Completed,
        (Status::InProgress, Event::Failed) => Status::Error,
        // Arrived before the Started that every delivery sends first: wait for it, so
        // that the state reached does not depend on the order of arrival.
        (Status::New, kind @ (Event::Progress | Event::Log | Event::Completed)) => {
            return Decision::Ignore(IgnoreReason::AwaitingStart { kind });
        }
        (status, kind) => return Decision::Ignore(IgnoreReason::NotAllowed { status, kind }),
    };
    Decision::Apply { status: next }
}

/// Why a job cannot be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("only jobs in Error can be retried; this job is {0}")]
pub struct NotRetryable(pub JobStatus);

/// Retry (docs/architecture.md, "Job state machine"): an Error job goes back to New on the next
/// attempt.
pub fn retry(state: &JobState) -> Result<JobState, NotRetryable> {
    if state.status != JobStatus::Error {
        return Err(NotRetryable(state.status));
    }
    Ok(JobState { status: JobStatus::New, attempt: state.attempt + 1, last_applied: None })
}

#[cfg(test)]
mod tests;
