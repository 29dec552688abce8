//! What the registry does on its own when a worker cannot say how a job ended
//! (its worker was lost): a stalled job is requeued on its next attempt, or fails
//! with "worker lost" after the last; a dead-lettered job message fails its job.

use crate::job::JobStatus;
use crate::state_machine::JobState;

/// What becomes of a job In Progress whose worker has said nothing for too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StallRecovery {
    /// Queued again as `state.attempt`: a new worker starts it afresh.
    Requeue {
        /// New, on the next attempt, nothing applied.
        state: JobState,
        /// The line for the message log and the job's message.
        message: String,
    },
    /// It was the last attempt: the job fails.
    Fail {
        /// Error, on the same attempt.
        state: JobState,
        /// The line for the message log and the job's message.
        message: String,
    },
}

/// Decides what to do with a job in `state` whose last event is `silent_secs` old,
/// allowing `max_attempts` attempts in all; `None` unless the job is In Progress.
pub fn recover_stalled(
    state: &JobState,
    silent_secs: u64,
    max_attempts: u32,
) -> Option<StallRecovery> {
    if state.status != JobStatus::InProgress {
        return None;
    }
    if state.attempt < max_attempts {
        let attempt = state.attempt + 1;
        return Some(StallRecovery::Requeue {
            state: JobState { status: JobStatus::New, attempt, last_applied: None },
            message: format!(
                "worker lost: no event for {silent_secs} s; requeued as attempt {attempt}"
            ),
        });
    }
    Some(StallRecovery::Fail {
        state: JobState { status: JobStatus::Error, ..*state },
        message: format!(
            "worker lost: no event for {silent_secs} s after {} attempts",
            state.attempt
        ),
    })
}

/// The state of a job in `state` once the message of its attempt `attempt` was
/// dead-lettered: Error on the same attempt. `None` (nothing changes) when the
/// message belongs to an older attempt or the job has already ended.
pub fn fail_dead_lettered(state: &JobState, attempt: u32) -> Option<JobState> {
    let unfinished = matches!(state.status, JobStatus::New | JobStatus::InProgress);
    (unfinished && attempt == state.attempt)
        .then_some(JobState { status: JobStatus::Error, ..*state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::EventPosition;

    fn in_progress(attempt: u32) -> JobState {
        let last = EventPosition { attempt, delivery: 1, sequence: 4 };
        JobState { status: JobStatus::InProgress, attempt, last_applied: Some(last) }
    }

    #[test]
    fn a_stalled_job_before_its_last_attempt_is_requeued_on_the_next() {
        let recovery = recover_stalled(&in_progress(1), 300, 3);
        assert_eq!(
            recovery,
            Some(StallRecovery::Requeue {
                state: JobState { status: JobStatus::New, attempt: 2, last_applied: None },
                message: "worker lost: no event for 300 s; requeued as attempt 2".to_owned(),
            })
        );
    }

    #[test]
    fn a_stalled_job_on_its_last_attempt_fails_as_worker_lost() {
        let state = in_progress(3);
        let recovery = recover_stalled(&state, 301, 3);
        assert_eq!(
            recovery,
            Some(StallRecovery::Fail {
                state: JobState { status: JobStatus::Error, ..state },
                message: "worker lost: no event for 301 s after 3 attempts".to_owned(),
            })
        );
    }

    #[test]
    fn only_jobs_in_progress_can_stall() {
        for status in [JobStatus::New, JobStatus::Completed, JobStatus::Error] {
            let state = JobState { status, attempt: 1, last_applied: None };
            assert_eq!(recover_stalled(&state, 300, 3), None, "{status:?}");
        }
    }

    #[test]
    fn a_dead_lettered_message_fails_its_unfinished_attempt_only() {
        let running = in_progress(2);
        assert_eq!(
            fail_dead_lettered(&running, 2),
            Some(JobState { status: JobStatus::Error, ..running })
        );
        assert_eq!(fail_dead_lettered(&running, 1), None, "an older attempt changes nothing");
        let queued = JobState { status: JobStatus::New, attempt: 1, last_applied: None };
        assert_eq!(
            fail_dead_lettered(&queued, 1).map(|state| state.status),
            Some(JobStatus::Error)
        );
        for status in [JobStatus::Completed, JobStatus::Error] {
            let ended = JobState { status, ..running };
            assert_eq!(fail_dead_lettered(&ended, 2), None, "{status:?} stays");
        }
    }
}
