//! A job message body, arbitrary bytes, as a consumer decodes it
//! (`JobMessage::decode`, then the processor's checks of its job id, account id and
//! input key). Must hold: no panic; a decoded message encodes and decodes to itself.
#![no_main]

use bgjobs_domain::object_keys::JobFile;
use bgjobs_domain::{AccountId, JobId};
use bgjobs_proto::Message;
use bgjobs_proto::v1::JobMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = JobMessage::decode(data) else {
        return;
    };
    let again = JobMessage::decode(message.encode_to_vec().as_slice()).expect("re-encoded");
    assert_eq!(again, message);
    if let (Ok(job), Ok(account)) =
        (message.job_id.parse::<JobId>(), AccountId::parse(&message.account_id))
    {
        let own_key = JobFile::Input.check(&account, job, &message.input_object_key).is_ok();
        if own_key {
            assert!(!message.input_object_key.is_empty(), "an empty key is no file");
        }
    }
});
