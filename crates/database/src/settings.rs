//! How the store's connections behave (`BGJOBS_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS`,
//! `BGJOBS_DB_STATEMENT_TIMEOUT_SECS`, `BGJOBS_DB_LOCK_TIMEOUT_SECS`).

use std::time::Duration;

/// The default of [`Settings::idle_in_transaction_timeout`].
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of [`Settings::statement_timeout`].
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The default of [`Settings::lock_timeout`].
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection settings of a [`Store`](crate::Store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a session may sit inside an open transaction without sending a
    /// statement before Postgres ends it (`idle_in_transaction_session_timeout`).
    ///
    /// The store's transactions never wait on anything but Postgres, so only a frozen
    /// or hung process stays idle in one; ending its session releases its job's fence
    /// lock, which would otherwise block the registry's recording of the job's end and
    /// its stall recovery for as long as the process stays frozen.
    pub idle_in_transaction_timeout: Duration,
    /// How long one statement may run before Postgres cancels it (`statement_timeout`).
    ///
    /// The store's statements touch at most one batch of rows (a few thousand) and
    /// take milliseconds; one that runs for a minute is hung (a stuck plan, a server
    /// in trouble). Cancelling it fails the call with a transient error, so the
    /// delivery is retried instead of waiting, heartbeating, for ever. Migrations,
    /// which may rewrite whole tables, are exempt.
    pub statement_timeout: Duration,
    /// How long a statement may wait for a lock, row or advisory, before Postgres
    /// cancels it (`lock_timeout`).
    ///
    /// Every lock the store takes is held for one short transaction (a batch), so a
    /// long wait means its holder is hung; the waiter gets a transient error and is
    /// retried. The wait for the migration lock is exempt.
    pub lock_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            idle_in_transaction_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

impl From<&bgjobs_config::sections::Database> for Settings {
    fn from(database: &bgjobs_config::sections::Database) -> Self {
        Self {
            idle_in_transaction_timeout: database.idle_in_transaction_timeout.get(),
            statement_timeout: database.statement_timeout.get(),
            lock_timeout: database.lock_timeout.get(),
        }
    }
}
