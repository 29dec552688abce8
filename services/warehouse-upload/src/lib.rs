//! The warehouse-upload consumer: imports warehouse location files into the
//! catalog schema (docs/architecture.md, "Processing rules"). `Worker` runs the queue loop;
//! `Processor` handles one message, so tests can drive a single delivery.

pub mod job;
pub mod rows;
pub mod settings;

pub use bgjobs_consumer::Outcome;
pub use job::WarehouseUpload;
pub use settings::Settings;

/// Handles one delivery of a warehouse upload.
pub type Processor = bgjobs_consumer::Processor<WarehouseUpload>;
/// The warehouse-upload consumer loop.
pub type Worker = bgjobs_consumer::Worker<WarehouseUpload>;
