//! The warehouse-upload consumer's configuration: the upload consumers' shared settings:
//! those of every consumer, and how much one row of a file may hold.

use bgjobs_config::{Environment, Error};
pub use bgjobs_upload::Settings;

/// The consumer's name: the default worker id starts with it.
pub const SERVICE: &str = "warehouse-upload";

/// Reads the consumer's settings from `environment`.
pub fn load(environment: &Environment<'_>) -> Result<Settings, Error> {
    Settings::load(environment, SERVICE)
}
