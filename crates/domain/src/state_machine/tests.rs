use super::*;
use EventKind::{Failed, Log, Progress, Started};
use JobStatus::{Error, InProgress, New};
const COMPLETED: EventKind = EventKind::Completed;

const ALL_KINDS: [EventKind; 5] = [Started, Progress, Log, COMPLETED, Failed];

fn at(attempt: u32, delivery: u32, sequence: u64) -> EventPosition {
    EventPosition { attempt, delivery, sequence }
}

fn state(status: JobStatus, attempt: u32, last_applied: Option<EventPosition>) -> JobState {
    JobState { status, attempt, last_applied }
}

#[test]
fn every_allowed_transition_applies() {
    let allowed = [
        (New, Started, InProgress),
        (New, Failed, Error),
        (InProgress, Started, InProgress),
        (InProgress, Progress, InProgress),
        (InProgress, Log, InProgress),
        (InProgress, COMPLETED, JobStatus::Completed),
        (InProgress, Failed, Error),
    ];
    for (from, kind, to) in allowed {
        let decision = apply(&state(from, 1, Some(at(1, 1, 1))), at(1, 1, 2), kind);
        assert_eq!(decision, Decision::Apply { status: to }, "{from:?} + {kind:?}");
    }
}

#[test]
fn every_forbidden_transition_is_ignored_and_named() {
    // New applies Started and Failed and holds the rest; In Progress takes all.
    let decided_otherwise = |status: JobStatus| matches!(status, New | InProgress);
    let mut forbidden = 0;
    for status in JobStatus::ALL {
        for kind in ALL_KINDS {
            if decided_otherwise(status) {
                continue;
            }
            forbidden += 1;
            let decision = apply(&state(status, 1, Some(at(1, 1, 1))), at(1, 1, 2), kind);
            assert_eq!(
                decision,
                Decision::Ignore(IgnoreReason::NotAllowed { status, kind }),
                "{status:?} + {kind:?}"
            );
        }
    }
    // Completed: all five; Error: all five.
    assert_eq!(forbidden, 10);
}

#[test]
fn completed_and_error_never_move_on_events() {
    for status in [JobStatus::Completed, Error] {
        for kind in ALL_KINDS {
            let decision = apply(&state(status, 1, Some(at(1, 1, 3))), at(1, 1, 4), kind);
            assert!(matches!(decision, Decision::Ignore(_)), "{status:?} moved on {kind:?}");
        }
    }
}

#[test]
fn a_duplicate_event_is_ignored() {
    let job = state(InProgress, 1, Some(at(1, 1, 5)));
    assert_eq!(apply(&job, at(1, 1, 5), Progress), Decision::Ignore(IgnoreReason::OutOfOrder));
}

#[test]
fn a_late_event_never_moves_a_job_backwards() {
    // Started (seq 1) arrives after Completed (seq 9) was applied.
    let job = state(JobStatus::Completed, 1, Some(at(1, 1, 9)));
    assert!(matches!(apply(&job, at(1, 1, 1), Started), Decision::Ignore(_)));
    // A late Progress must not overwrite newer counters either.
    let running = state(InProgress, 1, Some(at(1, 1, 9)));
    assert_eq!(apply(&running, at(1, 1, 4), Progress), Decision::Ignore(IgnoreReason::OutOfOrder));
}

#[test]
fn a_redelivery_restarts_the_sequence_and_still_applies() {
    // The first delivery got to sequence 40 before its worker died.
    let job = state(InProgress, 1, Some(at(1, 1, 40)));
    assert_eq!(apply(&job, at(1, 2, 1), Started), Decision::Apply { status: InProgress });
    // And a straggler from the dead worker's delivery is now late.
    let restarted = state(InProgress, 1, Some(at(1, 2, 1)));
    assert_eq!(
        apply(&restarted, at(1, 1, 41), Progress),
        Decision::Ignore(IgnoreReason::OutOfOrder)
    );
}

#[test]
fn an_event_of_an_older_attempt_is_logged_but_changes_nothing() {
    let job = state(New, 2, None);
    assert_eq!(
        apply(&job, at(1, 1, 7), Failed),
        Decision::Ignore(IgnoreReason::OlderAttempt { event_attempt: 1, current_attempt: 2 })
    );
}

#[test]
fn an_event_of_a_future_attempt_changes_nothing() {
    let job = state(New, 1, None);
    assert_eq!(
        apply(&job, at(2, 1, 1), Started),
        Decision::Ignore(IgnoreReason::UnknownAttempt { event_attempt: 2, current_attempt: 1 })
    );
}

#[test]
fn the_first_event_of_a_new_job_applies() {
    assert_eq!(
        apply(&JobState::new_job(), at(1, 1, 1), Started),
        Decision::Apply { status: InProgress }
    );
}

#[test]
fn retry_moves_an_error_job_to_new_on_the_next_attempt() {
    let job = state(Error, 1, Some(at(1, 1, 3)));
    assert_eq!(retry(&job), Ok(state(New, 2, None)));
    // The retried attempt's events apply; the old attempt's stragglers do not.
    let retried = retry(&job).unwrap();
    assert!(matches!(apply(&retried, at(1, 1, 4), Progress), Decision::Ignore(_)));
    assert_eq!(apply(&retried, at(2, 1, 1), Started), Decision::Apply { status: InProgress });
}

#[test]
fn only_error_jobs_can_be_retried() {
    for status in [New, InProgress, JobStatus::Completed] {
        let error = retry(&state(status, 1, None)).unwrap_err();
        assert_eq!(error, NotRetryable(status));
    }
    assert_eq!(
        NotRetryable(InProgress).to_string(),
        "only jobs in Error can be retried; this job is In Progress"
    );
}

#[test]
fn ignore_reasons_read_as_plain_sentences() {
    let reason = IgnoreReason::OlderAttempt { event_attempt: 1, current_attempt: 2 };
    assert_eq!(reason.to_string(), "event of attempt 1 ignored: the job is on attempt 2");
    let reason = IgnoreReason::NotAllowed { status: JobStatus::Completed, kind: Started };
    assert_eq!(reason.to_string(), "started event ignored: the job is Completed");
    let reason = IgnoreReason::AwaitingStart { kind: COMPLETED };
    assert_eq!(
        reason.to_string(),
        "completed event held: it applies once the job's Started event arrives"
    );
}

#[test]
fn progress_log_and_completed_before_started_are_held() {
    for kind in [Progress, Log, COMPLETED] {
        let decision = apply(&state(New, 1, None), at(1, 1, 5), kind);
        assert_eq!(decision, Decision::Ignore(IgnoreReason::AwaitingStart { kind }));
        let Decision::Ignore(reason) = decision else { unreachable!() };
        assert!(reason.is_held());
    }
    // Only the current attempt's events wait; nothing else counts as held.
    assert!(!IgnoreReason::OutOfOrder.is_held());
    assert_eq!(
        apply(&state(New, 2, None), at(1, 1, 5), COMPLETED),
        Decision::Ignore(IgnoreReason::OlderAttempt { event_attempt: 1, current_attempt: 2 })
    );
}

/// Applies `events` in order, deciding held events again after each applied one as
/// the registry does; returns the final state.
fn arrive_in_order(events: &[(EventPosition, EventKind)]) -> JobState {
    let mut state = state(New, 1, None);
    let mut held: Vec<(EventPosition, EventKind)> = Vec::new();
    for &(position, kind) in events {
        match apply(&state, position, kind) {
            Decision::Apply { status } => {
                state = JobState { status, attempt: 1, last_applied: Some(position) };
                held.sort_by_key(|&(position, _)| position);
                for (position, kind) in std::mem::take(&mut held) {
                    match apply(&state, position, kind) {
                        Decision::Apply { status } => {
                            state = JobState { status, attempt: 1, last_applied: Some(position) };
                        }
                        Decision::Ignore(reason) if reason.is_held() => held.push((position, kind)),
                        Decision::Ignore(_) => {}
                    }
                }
            }
            Decision::Ignore(reason) if reason.is_held() => held.push((position, kind)),
            Decision::Ignore(_) => {}
        }
    }
    state
}

#[test]
fn every_order_of_arrival_reaches_the_same_state() {
    // Two deliveries: the first dies after a heartbeat, the second completes.
    let events = [
        (at(1, 1, 1), Started),
        (at(1, 1, 2), Progress),
        (at(1, 2, 1), Started),
        (at(1, 2, 2), Progress),
        (at(1, 2, 3), Log),
        (at(1, 2, 4), COMPLETED),
    ];
    let expected =
        JobState { status: JobStatus::Completed, attempt: 1, last_applied: Some(at(1, 2, 4)) };
    // Every one of the 720 orders.
    let mut order: Vec<usize> = (0..events.len()).collect();
    let mut seen = 0;
    permute(&mut order, 0, &mut |order| {
        let arrived: Vec<_> = order.iter().map(|&index| events[index]).collect();
        assert_eq!(arrive_in_order(&arrived), expected, "arrival order {order:?}");
        seen += 1;
    });
    assert_eq!(seen, 720);
}

/// Calls `visit` with every permutation of `items[from..]` (Heap's algorithm would
/// do too; this is the plain recursive swap).
fn permute(items: &mut [usize], from: usize, visit: &mut impl FnMut(&[usize])) {
    if from == items.len() {
        visit(items);
        return;
    }
    for index in from..items.len() {
        items.swap(from, index);
        permute(items, from + 1, visit);
        items.swap(from, index);
    }
}
