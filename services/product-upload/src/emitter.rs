//! Job events of one delivery: shared with the other consumers.

pub use bgjobs_upload_pipeline::Emitter;
