//! The warehouse-upload consumer: imports warehouse location files into the
//! catalog schema (DESIGN.md §5–§6). `Worker` runs the queue loop; `Processor`
//! handles one message, so tests can drive a single delivery.

mod import;
pub mod process;
pub mod reader;
pub mod settings;
pub mod worker;

pub use process::{Outcome, Processor, ProcessorSettings};
pub use settings::Settings;
pub use worker::Worker;
