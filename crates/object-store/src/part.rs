//! The part of a streaming upload being gathered until it is sent: in memory, or in a
//! temporary file so that a long-running writer holds little of it in memory.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::{ByteStream, Length};
use bytes::BytesMut;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::Error;
use crate::upload::PART_SIZE;

/// How much of a spooled part the request body reads at a time.
const FILE_READ_BUFFER: usize = 64 * 1024;

/// How many bytes a spooled part keeps in memory before it moves to its file: a small
/// body (a short job's results) is sent without touching the disk.
const SPILL_AFTER: usize = 256 * 1024;

/// Bytes waiting to be sent as one part (or as the whole object).
pub(crate) enum Part {
    /// In memory: room for [`PART_SIZE`] bytes, whose pages are touched as bytes arrive.
    Memory(BytesMut),
    /// In memory while it holds at most [`SPILL_AFTER`] bytes; past that it becomes a
    /// [`Part::File`] in `dir`, and stays one for the parts after it.
    Spilling { bytes: BytesMut, dir: PathBuf },
    /// In a temporary file, removed when the part is dropped.
    File(SpoolFile),
}

/// A temporary file holding a part's bytes.
pub(crate) struct SpoolFile {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    len: usize,
}

impl Part {
    /// An empty part in memory.
    pub fn memory() -> Self {
        Self::Memory(BytesMut::with_capacity(PART_SIZE))
    }

    /// An empty part that moves to a temporary file in `dir` once it holds more than
    /// [`SPILL_AFTER`] bytes.
    pub fn spilling(dir: &Path) -> Self {
        Self::Spilling { bytes: BytesMut::new(), dir: dir.to_owned() }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Memory(bytes) | Self::Spilling { bytes, .. } => bytes.len(),
            Self::File(spool) => spool.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `bytes`; the caller keeps the part within [`PART_SIZE`].
    pub async fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Self::Memory(part) => part.extend_from_slice(bytes),
            Self::Spilling { bytes: held, dir } if held.len() + bytes.len() > SPILL_AFTER => {
                let mut spool = SpoolFile::create(std::mem::take(dir)).await?;
                spool.write(held).await?;
                spool.write(bytes).await?;
                *self = Self::File(spool);
            }
            Self::Spilling { bytes: held, .. } => held.extend_from_slice(bytes),
            Self::File(spool) => spool.write(bytes).await?,
        }
        Ok(())
    }

    /// The gathered bytes as a request body. A part in memory hands its bytes over
    /// and is empty afterwards; a spooled one is read from its file, which must stay
    /// as it is until the request is done: [`Part::clear`] empties it then.
    pub async fn body(&mut self) -> Result<ByteStream, Error> {
        match self {
            Self::Memory(part) | Self::Spilling { bytes: part, .. } => {
                Ok(ByteStream::from(part.split().freeze()))
            }
            Self::File(spool) => {
                spool.file.flush().await.map_err(Error::Spool)?;
                ByteStream::read_from()
                    .path(&spool.path)
                    .buffer_size(FILE_READ_BUFFER)
                    .length(Length::Exact(spool.len as u64))
                    .build()
                    .await
                    .map_err(|error| Error::Spool(std::io::Error::other(error)))
            }
        }
    }

    /// Empties the part once its body has been sent, ready for the next bytes.
    pub async fn clear(&mut self) -> Result<(), Error> {
        match self {
            // Allocated only once the sent part is freed: one part in memory at a time.
            Self::Memory(part) => part.reserve(PART_SIZE),
            // Grows again as bytes arrive, up to [`SPILL_AFTER`].
            Self::Spilling { .. } => {}
            Self::File(spool) => {
                spool.file.set_len(0).await.map_err(Error::Spool)?;
                spool.file.seek(SeekFrom::Start(0)).await.map_err(Error::Spool)?;
                spool.len = 0;
            }
        }
        Ok(())
    }
}

impl SpoolFile {
    /// A new, empty temporary file in `dir`.
    async fn create(dir: PathBuf) -> Result<Self, Error> {
        let spooled = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
            .await
            .map_err(|error| Error::Spool(std::io::Error::other(error)))?
            .map_err(Error::Spool)?;
        let (file, path) = spooled.into_parts();
        Ok(Self { file: tokio::fs::File::from_std(file), path, len: 0 })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file.write_all(bytes).await.map_err(Error::Spool)?;
        self.len += bytes.len();
        Ok(())
    }
}
