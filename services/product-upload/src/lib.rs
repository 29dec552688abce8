//! The product-upload consumer: imports product catalogue files into the
//! catalog schema (DESIGN.md §5). `Worker` runs the queue loop; `Processor`
//! handles one message, so tests can drive a single delivery.

pub mod job;
pub mod reader;
pub mod settings;

pub use bgjobs_upload_pipeline::Outcome;
pub use job::ProductUpload;
pub use settings::Settings;

/// Handles one delivery of a product upload.
pub type Processor = bgjobs_upload_pipeline::Processor<ProductUpload>;
/// The product-upload consumer loop.
pub type Worker = bgjobs_upload_pipeline::Worker<ProductUpload>;
