//! What every bgjobs consumer shares, whatever its job type: the numbered job
//! events of one delivery ([`Emitter`]); for uploads, the streamed CSV reader
//! ([`reader`]), the first-occurrence check of natural keys ([`FirstRows`]) and the
//! results file ([`ResultsWriter`]).

pub mod duplicates;
pub mod emitter;
pub mod outcome;
pub mod reader;
pub mod results;
pub mod row_lines;
pub mod settings;

pub use duplicates::FirstRows;
pub use emitter::Emitter;
pub use outcome::{Outcome, settle};
pub use results::ResultsWriter;
pub use row_lines::{LineOutcome, RowLines};
