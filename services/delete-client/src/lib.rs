//! The delete-client consumer: deletes all data of one client of an account
//! (docs/architecture.md, "Processing rules") in small, checkpointed batches, or, as a dry run,
//! only reports what it would delete. `Worker` runs the queue loop; `Processor` handles one
//! message, so tests can drive a single delivery.

pub mod job;
pub mod settings;
pub mod summary;
mod wait;

pub use bgjobs_consumer::Outcome;
pub use job::DeleteClient;
pub use settings::Settings;

/// Handles one delivery of a Delete Client job.
pub type Processor = bgjobs_consumer::Processor<DeleteClient>;
/// The delete-client consumer loop.
pub type Worker = bgjobs_consumer::Worker<DeleteClient>;
