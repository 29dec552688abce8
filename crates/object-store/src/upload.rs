//! Streaming uploads: a body of any size is stored holding at most one part, in
//! memory or in a temporary file.

use std::path::Path;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::part::Part;
use crate::{Error, ObjectMetadata, ObjectStore};

/// Size of every multipart part but the last. S3 wants at least 5 MiB; 8 MiB keeps
/// the request count of a large file low while memory stays at one part per upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

impl ObjectStore {
    /// Streams `body` to `key` without holding it in memory: multipart upload in 8 MiB parts
    /// (a body of at most one part: a single PutObject). Refuses bodies over `max_bytes`
    /// with [`Error::TooLarge`] and aborts the multipart upload so nothing is left.
    /// Returns the number of bytes stored. An error from the body stream aborts too.
    ///
    /// The part being gathered is held in memory: up to [`PART_SIZE`] bytes per upload.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        body: S,
        metadata: &ObjectMetadata,
        max_bytes: u64,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.put_parts(key, body, metadata, max_bytes, Part::memory()).await
    }

    /// As [`ObjectStore::put_stream`], with the part being gathered written to a
    /// temporary file in `spool_dir` (at most [`PART_SIZE`] bytes on disk, removed at
    /// the end whatever happens) instead of memory: for a writer that produces its body
    /// over a long job, several at once, whose memory must not grow with the body. A
    /// body of at most 256 KiB stays in memory and never touches the disk.
    pub async fn put_stream_spooled<S, E>(
        &self,
        key: &str,
        body: S,
        metadata: &ObjectMetadata,
        max_bytes: u64,
        spool_dir: &Path,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.put_parts(key, body, metadata, max_bytes, Part::spilling(spool_dir)).await
    }

    async fn put_parts<S, E>(
        &self,
        key: &str,
        mut body: S,
        metadata: &ObjectMetadata,
        max_bytes: u64,
        mut part: Part,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut upload = None;
        let sent =
            self.send_full_parts(key, &mut body, metadata, max_bytes, &mut part, &mut upload).await;
        let result = match (sent, upload.as_mut()) {
            (Err(error), _) => Err(error),
            // Small enough for one request: no multipart upload was started.
            (Ok(size), None) => match part.body().await {
                Ok(whole) => self.put_body(key, whole, metadata).await.map(|()| size),
                Err(error) => Err(error),
            },
            (Ok(size), Some(upload)) => upload.finish(&mut part).await.map(|()| size),
        };
        if let (Err(_), Some(upload)) = (&result, upload.as_mut()) {
            upload.abort().await;
        }
        result
    }

    /// Reads `body` to its end, uploading each part once it is full and more data
    /// follows; leaves the last (possibly only) part in `part`. Returns the body's size.
    async fn send_full_parts<S, E>(
        &self,
        key: &str,
        body: &mut S,
        metadata: &ObjectMetadata,
        max_bytes: u64,
        part: &mut Part,
        upload: &mut Option<MultipartUpload>,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|error| Error::Body(Box::new(error)))?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(Error::TooLarge { limit: max_bytes });
            }
            while !chunk.is_empty() {
                if part.len() == PART_SIZE {
                    let upload = match upload {
                        Some(upload) => upload,
                        None => upload.insert(MultipartUpload::start(self, key, metadata).await?),
                    };
                    upload.send_part(part).await?;
                }
                let room = PART_SIZE - part.len();
                part.append(&chunk.split_to(room.min(chunk.len()))).await?;
            }
        }
        Ok(size)
    }
}

/// One multipart upload in progress. If it is dropped unfinished (the caller's
/// future was cancelled, e.g. the uploading client went away), it aborts itself in
/// the background so the server does not keep the parts.
struct MultipartUpload {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
    settled: bool,
}

impl MultipartUpload {
    async fn start(
        store: &ObjectStore,
        key: &str,
        metadata: &ObjectMetadata,
    ) -> Result<Self, Error> {
        let output = store
            .client
            .create_multipart_upload()
            .bucket(&store.bucket)
            .key(key)
            .content_type(&metadata.content_type)
            .set_metadata(Some(metadata.user_metadata()))
            .send()
            .await
            .map_err(|error| Error::s3("CreateMultipartUpload", error))?;
        let upload_id = output.upload_id().ok_or_else(|| Error::S3 {
            operation: "CreateMultipartUpload",
            message: "the server returned no upload id".to_owned(),
        })?;
        Ok(Self {
            client: store.client.clone(),
            bucket: store.bucket.clone(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            parts: Vec::new(),
            settled: false,
        })
    }

    /// Sends `part` as the next part and empties it.
    async fn send_part(&mut self, part: &mut Part) -> Result<(), Error> {
        // Part numbers run from 1 to 10,000: with 8 MiB parts, up to ~78 GiB.
        let part_number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(part_number)
            .body(part.body().await?)
            .send()
            .await
            .map_err(|error| Error::s3("UploadPart", error))?;
        part.clear().await?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(part_number)
                .set_e_tag(output.e_tag().map(str::to_owned))
                .set_checksum_crc32(output.checksum_crc32().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    /// Sends the last part (if any bytes are left) and completes the upload.
    async fn finish(&mut self, last_part: &mut Part) -> Result<(), Error> {
        if !last_part.is_empty() {
            self.send_part(last_part).await?;
        }
        let parts = CompletedMultipartUpload::builder().set_parts(Some(self.parts.clone())).build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(parts)
            .send()
            .await
            .map_err(|error| Error::s3("CompleteMultipartUpload", error))?;
        self.settled = true;
        Ok(())
    }

    /// Best effort: the caller already has the error that matters; a failed abort
    /// leaves parts that a bucket lifecycle rule (or `deploy/stack.sh clean`) removes.
    async fn abort(&mut self) {
        self.settled = true;
        let request = self.abort_request();
        if let Err(error) = request.send().await {
            tracing::warn!(
                bucket = %self.bucket,
                key = %self.key,
                error = %aws_sdk_s3::error::DisplayErrorContext(&error),
                "could not abort a multipart upload"
            );
        }
    }

    fn abort_request(
        &self,
    ) -> aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder
    {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
    }
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let request = self.abort_request();
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            if let Err(error) = request.send().await {
                tracing::warn!(%key, error = %aws_sdk_s3::error::DisplayErrorContext(&error), "could not abort a cancelled multipart upload");
            }
        });
    }
}
