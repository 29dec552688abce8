//! The runtime every bgjobs consumer shares, whatever its job type: the consumer loop
//! ([`Worker`]), the life of one delivery ([`Processor`], over a [`Job`]) with its
//! retries ([`Backoff`]) and settling ([`Outcome`]), and its numbered job events
//! ([`Emitter`]). What a job does with its delivery is the job's own (the upload pass
//! is `bgjobs-upload`).

pub mod backoff;
pub mod delivery;
pub mod emitter;
mod health;
pub mod metrics;
pub mod outcome;
pub mod processor;
pub mod settings;
pub mod worker;

pub use backoff::{Backoff, RetryPolicy};
pub use delivery::{Delivery, Finished, Stop};
pub use emitter::{Emitter, STILL_WORKING};
pub use metrics::{ConsumerMetrics, RowRate};
pub use outcome::{Outcome, settle};
pub use processor::{Connections, DEFAULT_STUCK_AFTER, Job, Processor};
pub use settings::{Defaults, Settings};
pub use worker::{Worker, shutdown_signal};
