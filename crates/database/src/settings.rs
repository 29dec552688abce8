//! How the store's connections behave (`BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS`).

use std::time::Duration;

/// The default of [`Settings::idle_in_transaction_timeout`].
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings of a [`Store`](crate::Store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a session may sit inside an open transaction without sending a
    /// statement before Postgres ends it (`idle_in_transaction_session_timeout`).
    ///
    /// The store's transactions never wait on anything but Postgres, so only a frozen
    /// or hung process stays idle in one; ending its session releases the job row's
    /// fencing share lock, which would otherwise block the registry's event applier
    /// and stall recovery for as long as the process stays frozen.
    pub idle_in_transaction_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { idle_in_transaction_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT }
    }
}

impl From<&bgjobs_config::sections::Database> for Settings {
    fn from(database: &bgjobs_config::sections::Database) -> Self {
        Self { idle_in_transaction_timeout: database.idle_in_transaction_timeout.get() }
    }
}
