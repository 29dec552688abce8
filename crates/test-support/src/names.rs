//! Name prefixes that isolate one test's queues, exchanges, streams and subjects.

/// A fresh prefix for messaging names, `t<suffix>.`, e.g. "t1a2b3c4d5e6f.".
///
/// Pass it to `bgjobs_messaging::Names::new`; every queue, exchange, stream and
/// subject of the test then starts with it.
pub fn messaging_prefix() -> String {
    format!("t{}.", crate::unique_suffix())
}
