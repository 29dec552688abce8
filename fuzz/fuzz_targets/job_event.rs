//! A JobEvent body, arbitrary bytes, as the registry's event applier takes it off the
//! stream (`JobEvent::decode`, then `jobs_registry::applier::incoming_event`). Must
//! hold: no panic; a decoded event encodes and decodes to itself; an event the
//! registry accepts keeps its ids and position.
#![no_main]

use bgjobs_proto::Message;
use bgjobs_proto::v1::JobEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = JobEvent::decode(data) else {
        return;
    };
    let again = JobEvent::decode(event.encode_to_vec().as_slice()).expect("re-encoded");
    assert_eq!(again, event);
    match jobs_registry::applier::incoming_event(&event) {
        Ok(incoming) => {
            assert!(incoming.position.attempt >= 1);
            assert_eq!(incoming.position.sequence, event.sequence);
            assert_eq!(incoming.message, event.message);
        }
        Err(reason) => assert!(!reason.is_empty(), "a refusal without a reason"),
    }
});
