//! The upload pass of the upload consumers, over any row type ([`Upload`] with its
//! [`UploadRows`]): the file streamed and parsed ([`reader`]), valid rows written in
//! checkpointed batches, the results lines waiting for their batch ([`RowLines`]) and
//! the results file ([`ResultsWriter`]), with the settings of the upload consumers
//! ([`Settings`]). It runs inside a delivery of
//! `bgjobs-consumer`.

pub mod reader;
pub mod results;
pub mod row_lines;
pub mod settings;
pub mod upload;

pub use results::ResultsWriter;
pub use row_lines::{LineOutcome, RowLines};
pub use settings::Settings;
pub use upload::{Upload, UploadRows};
