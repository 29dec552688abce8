//! The warehouse-upload consumer's configuration: the upload consumers' shared settings.

pub use bgjobs_consumer::settings::Settings;

/// The consumer's name: the default worker id starts with it.
pub const SERVICE: &str = "warehouse-upload";
