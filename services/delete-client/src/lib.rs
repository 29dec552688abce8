//! The delete-client consumer: deletes all data of one client of an account
//! (DESIGN.md §5-§6) in small, checkpointed batches, or, as a dry run, only
//! reports what it would delete. `Worker` runs the queue loop; `Processor`
//! handles one message, so tests can drive a single delivery.

pub mod process;
pub mod settings;
pub mod summary;
mod wait;
pub mod worker;

pub use bgjobs_upload_pipeline::Outcome;
pub use process::{Processor, ProcessorSettings};
pub use settings::Settings;
pub use worker::Worker;
