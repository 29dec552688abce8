//! The transition check itself must be able to fail: logs it must refuse.

use bgjobs_domain::{EventKind, JobStatus};
use bgjobs_proto::convert::{event_kind_to_proto, job_status_to_proto};
use bgjobs_proto::v1::LogEntry;

use super::check_transitions;

use EventKind as Kind;
use JobStatus as Status;

/// A log line at attempt/delivery/sequence `position`.
fn line(position: (u32, u32, u64), kind: Kind, before: Status, after: Status) -> LogEntry {
    let (attempt, delivery, sequence) = position;
    LogEntry {
        event_id: format!("{attempt}-{delivery}-{sequence}-{}", kind.as_str()),
        attempt,
        delivery,
        sequence,
        kind: event_kind_to_proto(kind) as i32,
        status_before: job_status_to_proto(before) as i32,
        status_after: job_status_to_proto(after) as i32,
        ..Default::default()
    }
}

fn ignored(mut entry: LogEntry) -> LogEntry {
    entry.ignored = true;
    entry
}

fn normal_run() -> Vec<LogEntry> {
    vec![
        line((1, 1, 1), Kind::Started, Status::New, Status::InProgress),
        line((1, 1, 2), Kind::Progress, Status::InProgress, Status::InProgress),
        line((1, 2, 1), Kind::Started, Status::InProgress, Status::InProgress),
        line((1, 2, 2), Kind::Completed, Status::InProgress, Status::Completed),
    ]
}

#[test]
fn a_run_resumed_by_a_redelivery_is_legal() {
    assert_eq!(check_transitions(&normal_run()), Ok(()));
}

#[test]
fn a_dead_lettered_job_replayed_on_its_next_attempt_is_legal() {
    let log = vec![
        line((1, 1, 1), Kind::Started, Status::New, Status::InProgress),
        line((1, 0, 0), Kind::Log, Status::InProgress, Status::Error),
        line((2, 0, 0), Kind::Log, Status::Error, Status::New),
        ignored(line((1, 3, 1), Kind::Started, Status::New, Status::New)),
        line((2, 1, 1), Kind::Started, Status::New, Status::InProgress),
        line((2, 1, 2), Kind::Completed, Status::InProgress, Status::Completed),
    ];
    assert_eq!(check_transitions(&log), Ok(()));
}

#[test]
fn a_completed_job_moving_back_is_refused() {
    let mut log = normal_run();
    log.push(line((1, 3, 1), Kind::Started, Status::Completed, Status::InProgress));
    let problem = check_transitions(&log).unwrap_err();
    assert!(problem.starts_with("line 5: Started moved Completed -> InProgress"), "{problem}");
}

#[test]
fn a_line_that_does_not_start_where_the_last_one_left_is_refused() {
    let mut log = normal_run();
    log.remove(0);
    let problem = check_transitions(&log).unwrap_err();
    assert!(problem.starts_with("line 1: starts from InProgress"), "{problem}");
}

#[test]
fn an_event_applied_twice_is_refused() {
    let mut log = normal_run();
    let mut again = log[1].clone();
    again.event_id.push_str("-again");
    log.insert(2, again);
    let problem = check_transitions(&log).unwrap_err();
    assert!(problem.starts_with("line 3: a second applied event"), "{problem}");
}

#[test]
fn a_registry_change_no_rule_allows_is_refused() {
    let log = vec![line((1, 0, 0), Kind::Log, Status::New, Status::Completed)];
    let problem = check_transitions(&log).unwrap_err();
    assert!(problem.starts_with("line 1: no rule moves a job New"), "{problem}");
}

#[test]
fn an_ignored_line_that_changes_the_status_is_refused() {
    let mut log = normal_run();
    log.push(ignored(line((1, 3, 1), Kind::Failed, Status::Completed, Status::Error)));
    let problem = check_transitions(&log).unwrap_err();
    assert!(problem.starts_with("line 5: ignored, yet moved"), "{problem}");
}
