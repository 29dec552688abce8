//! Protobuf messages and gRPC services of bgjobs, generated from `proto/`.

/// Package `bgjobs.v1`: jobs, job messages, job events, the registry and ingest services.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("bgjobs.v1");
}

pub mod convert;
pub mod error_code;

pub use error_code::ErrorCode;

/// Encoded `FileDescriptorSet` of every bgjobs proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("bgjobs_descriptor");

pub use prost::Message;
pub use prost_types::Timestamp;
