//! The product-upload consumer: imports product catalogue files into the
//! catalog schema (DESIGN.md §5). `Worker` runs the queue loop; `Processor`
//! handles one message, so tests can drive a single delivery.

pub mod emitter;
pub mod process;
pub mod reader;
pub mod settings;
pub mod worker;

/// The results file: shared with the other upload consumers.
pub use bgjobs_upload_pipeline::results;
pub use process::{Outcome, Processor, ProcessorSettings};
pub use settings::Settings;
pub use worker::Worker;
