//! S3-compatible object storage of bgjobs: streaming uploads and downloads of job files.
//!
//! One [`ObjectStore`] serves one bucket, addressed by path on a configurable
//! endpoint (SeaweedFS locally, S3 or any compatible server elsewhere). Uploads
//! stream in [`PART_SIZE`] parts, the part being gathered held in memory or, for
//! long-running writers, in a temporary file; downloads are readers. Memory stays
//! flat whatever the file size.

mod error;
mod metadata;
mod object_store;
mod part;
mod settings;
mod upload;

pub use error::Error;
pub use metadata::{ObjectInfo, ObjectMetadata};
pub use object_store::ObjectStore;
pub use settings::{Bucket, LOCAL_SECRET_ACCESS_KEY, Region, Settings};
pub use upload::PART_SIZE;
