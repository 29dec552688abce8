//! The pure domain of bgjobs: identifiers, job types and statuses, the object keys of a
//! job's files, and the job state machine (docs/architecture.md, "Job state machine"). No
//! I/O lives here, so every rule can be unit-tested without a runtime.

pub mod ids;
pub mod job;
pub mod object_keys;
pub mod recipient;
pub mod state_machine;
pub mod upload;
pub mod worker_loss;

pub use ids::{AccountId, JobId};
pub use job::{JobStatus, JobType};
pub use state_machine::{Decision, EventKind, EventPosition, IgnoreReason, JobState};
