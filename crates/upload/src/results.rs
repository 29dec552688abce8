//! The results file, written to S3 as it is produced: a header line, then one
//! line per input row (`"row","key","outcome","reason"`). Every cell is quoted and
//! CSV-injection safe ([`safe_cell`](bgjobs_domain::upload::results::safe_cell)); keys
//! and reasons are capped in length. The part being gathered waits in a temporary file
//! (`TMPDIR`, else `/tmp`), so memory does not grow with the file.
//!
//! Only a finished file is stored: a writer dropped before [`ResultsWriter::finish`]
//! (its delivery stopped: a retry, a superseded attempt, a failure) aborts the upload,
//! so it never replaces the results file already there — which may be the complete
//! file of the attempt that superseded it — with a truncated one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bgjobs_domain::upload::results::{HEADER, key_cell, reason_cell};
use bgjobs_object_store::{ObjectMetadata, ObjectStore};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// Bytes gathered before a chunk goes to storage.
const CHUNK_BYTES: usize = 256 * 1024;

/// Streams a results file to object storage.
pub struct ResultsWriter {
    csv: csv::Writer<Vec<u8>>,
    sender: mpsc::Sender<Result<Bytes, Abandoned>>,
    upload: JoinHandle<Result<u64, bgjobs_object_store::Error>>,
    /// Set by `finish`: the body stream then ends normally instead of with [`Abandoned`].
    finished: Arc<AtomicBool>,
}

/// The end of the body of a results file whose writer was dropped unfinished: the
/// upload is aborted and nothing is stored.
#[derive(Debug, thiserror::Error)]
#[error("the results file was abandoned before its last line")]
pub struct Abandoned;

impl ResultsWriter {
    /// Starts the upload of `key` and writes the header line.
    pub fn start(objects: ObjectStore, key: String) -> Result<Self, csv::Error> {
        let (sender, receiver) = mpsc::channel(4);
        let finished = Arc::new(AtomicBool::new(false));
        let finished_flag = Arc::clone(&finished);
        // When the sender is gone, one more item is polled: an error unless finished.
        let end = tokio_stream::once(()).filter_map(move |()| {
            (!finished_flag.load(Ordering::Acquire)).then_some(Err(Abandoned))
        });
        let body = ReceiverStream::new(receiver).chain(end);
        // Each 8 MiB part waits on disk, not in memory: a consumer running several long
        // imports at once holds none of their results files.
        let spool_dir = std::env::temp_dir();
        let upload = tokio::spawn(async move {
            let metadata = ObjectMetadata {
                content_type: "text/csv; charset=utf-8".to_owned(),
                original_file_name: Some("results.csv".to_owned()),
            };
            objects.put_stream_spooled(&key, body, &metadata, u64::MAX, &spool_dir).await
        });
        let mut csv = writer();
        csv.write_record(HEADER)?;
        Ok(Self { csv, sender, upload, finished })
    }

    /// Adds the line of one input row; `key` and `reason` are capped and made
    /// injection safe.
    pub async fn line(
        &mut self,
        row: u64,
        key: &str,
        outcome: &str,
        reason: &str,
    ) -> Result<(), Error> {
        let row = row.to_string();
        self.csv.write_record([row.as_str(), &key_cell(key), outcome, &reason_cell(reason)])?;
        if self.csv.get_ref().len() >= CHUNK_BYTES {
            self.flush_chunk().await?;
        }
        Ok(())
    }

    /// Sends the last chunk and waits until the file is stored; returns its size.
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.flush_chunk().await?;
        self.finished.store(true, Ordering::Release);
        drop(self.sender);
        self.upload.await.map_err(|_| Error::UploadTaskLost)?.map_err(Error::Storage)
    }

    /// What dropping an unfinished writer does — its upload is aborted and nothing is
    /// stored — waiting until the upload task has ended.
    pub async fn abandon(self) {
        drop(self.sender);
        // The task ends with Abandoned (or an earlier storage error): nothing stored.
        let _ = self.upload.await;
    }

    async fn flush_chunk(&mut self) -> Result<(), Error> {
        let full = std::mem::replace(&mut self.csv, writer());
        let chunk = full.into_inner().map_err(|error| Error::Flush(error.into_error()))?;
        if chunk.is_empty() {
            return Ok(());
        }
        if self.sender.send(Ok(Bytes::from(chunk))).await.is_err() {
            // The upload task ended early: its own error says why.
            return match (&mut self.upload).await {
                Ok(Err(error)) => Err(Error::Storage(error)),
                _ => Err(Error::UploadTaskLost),
            };
        }
        Ok(())
    }
}

/// A writer of results lines: every cell quoted, so that a spreadsheet reads each
/// cell whole whatever it holds.
fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::with_capacity(CHUNK_BYTES))
}

/// Why the results file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Formatting a line failed.
    #[error("writing a results line failed: {0}")]
    Csv(#[from] csv::Error),
    /// Handing buffered lines over failed.
    #[error("writing results lines failed: {0}")]
    Flush(std::io::Error),
    /// Object storage refused the file.
    #[error("storing the results file failed: {0}")]
    Storage(bgjobs_object_store::Error),
    /// The upload task stopped before the file was complete.
    #[error("storing the results file failed: the upload stopped early")]
    UploadTaskLost,
}
