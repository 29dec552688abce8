//! A JobEvent from the wire as the store's [`IncomingEvent`], refusing what can never apply.

use bgjobs_database::jobs::{Counters, IncomingEvent};
use bgjobs_domain::{AccountId, EventPosition, JobId};
use bgjobs_proto::convert::{event_kind_from_proto, from_timestamp};
use bgjobs_proto::v1;
use chrono::Utc;
use uuid::Uuid;

/// Checks `event` and converts it; the error says why it can never be applied.
pub fn incoming_event(event: &v1::JobEvent) -> Result<IncomingEvent, String> {
    let event_id = Uuid::parse_str(&event.event_id)
        .map_err(|_| format!("event_id '{}' is not a UUID", event.event_id))?;
    let job_id: JobId =
        event.job_id.parse().map_err(|_| format!("job_id '{}' is not a UUID", event.job_id))?;
    let account_id = AccountId::parse(&event.account_id)
        .map_err(|_| format!("account_id '{}' is not a valid account id", event.account_id))?;
    if event.attempt == 0 {
        return Err("attempt is 0; attempts start at 1".to_owned());
    }
    let kind = event_kind_from_proto(event.kind)
        .ok_or_else(|| format!("kind {} is unspecified or unknown", event.kind))?;
    let occurred_at = match &event.occurred_at {
        Some(timestamp) => from_timestamp(timestamp)
            .ok_or_else(|| format!("occurred_at {timestamp:?} is not a valid time"))?,
        // Every publisher sets it; an event without one still tells what happened, so
        // the time it reached the registry stands in rather than losing the event.
        None => Utc::now(),
    };
    Ok(IncomingEvent {
        event_id,
        job_id,
        account_id,
        position: EventPosition {
            attempt: event.attempt,
            delivery: event.delivery,
            sequence: event.sequence,
        },
        kind,
        occurred_at,
        message: event.message.clone(),
        counters: event.counters.as_ref().map(|counters| Counters {
            rows_total: counters.rows_total,
            rows_processed: counters.rows_processed,
            rows_rejected: counters.rows_rejected,
        }),
        result_object_key: Some(event.result_object_key.clone()).filter(|key| !key.is_empty()),
        worker_id: event.worker_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use bgjobs_domain::EventKind;
    use bgjobs_proto::convert::timestamp;

    use super::*;

    fn valid_event() -> v1::JobEvent {
        v1::JobEvent {
            event_id: Uuid::now_v7().to_string(),
            job_id: JobId::new().to_string(),
            account_id: "acme".into(),
            attempt: 1,
            sequence: 3,
            occurred_at: Some(timestamp(Utc::now())),
            kind: v1::EventKind::Progress as i32,
            message: "300 of 1,000 rows".into(),
            counters: Some(v1::Counters {
                rows_total: 1000,
                rows_processed: 300,
                rows_rejected: 2,
            }),
            result_object_key: String::new(),
            worker_id: "product-upload/host-1".into(),
            delivery: 1,
        }
    }

    #[test]
    fn a_valid_event_keeps_its_position_counters_and_worker() {
        let incoming = incoming_event(&valid_event()).expect("valid");
        assert_eq!(incoming.position, EventPosition { attempt: 1, delivery: 1, sequence: 3 });
        assert_eq!(incoming.kind, EventKind::Progress);
        assert_eq!(incoming.counters.map(|counters| counters.rows_rejected), Some(2));
        assert_eq!(incoming.result_object_key, None);
        assert_eq!(incoming.worker_id, "product-upload/host-1");
    }

    #[test]
    fn events_that_can_never_apply_are_refused_with_the_reason() {
        let cases = [
            (
                v1::JobEvent { event_id: "e-1".into(), ..valid_event() },
                "event_id 'e-1' is not a UUID",
            ),
            (v1::JobEvent { job_id: String::new(), ..valid_event() }, "job_id '' is not a UUID"),
            (v1::JobEvent { account_id: "a b".into(), ..valid_event() }, "account_id 'a b' is not"),
            (v1::JobEvent { attempt: 0, ..valid_event() }, "attempt is 0"),
            (v1::JobEvent { kind: 0, ..valid_event() }, "kind 0 is unspecified or unknown"),
        ];
        for (event, expected) in cases {
            let reason = incoming_event(&event).expect_err(expected);
            assert!(reason.starts_with(expected), "{reason:?} does not start with {expected:?}");
        }
    }
}
