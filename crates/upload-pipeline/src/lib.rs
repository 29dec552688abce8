//! What every bgjobs consumer shares, whatever its job type: the consumer loop
//! ([`Worker`]), the life of one delivery ([`Processor`], over a [`Job`]), its
//! numbered job events ([`Emitter`]); for uploads, the upload pass over any row type
//! ([`upload::Upload`]), the streamed CSV reader ([`reader`]), the results lines
//! waiting for their batch ([`RowLines`]) and the results file ([`ResultsWriter`]).

pub mod backoff;
pub mod delivery;
pub mod emitter;
pub mod outcome;
pub mod processor;
pub mod reader;
pub mod results;
pub mod row_lines;
pub mod settings;
pub mod upload;
pub mod worker;

pub use backoff::{Backoff, RetryPolicy};
pub use delivery::{Delivery, Finished, Stop};
pub use emitter::{Emitter, STILL_WORKING};
pub use outcome::{Outcome, settle};
pub use processor::{Connections, Job, Processor};
pub use results::ResultsWriter;
pub use row_lines::{LineOutcome, RowLines};
pub use settings::Settings;
pub use upload::{Upload, UploadRows};
pub use worker::{Worker, shutdown_signal};
