//! What every request handler shares: cheap-to-clone handles on the outside world.

use std::sync::Arc;

use bgjobs_object_store::ObjectStore;

use crate::publishing::Publishing;

/// The handles of one running ingest.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The bucket of input files.
    pub store: ObjectStore,
    /// The registry client and the job publisher.
    pub publishing: Publishing,
    /// The broker connection, for readiness.
    pub amqp: Arc<lapin::Connection>,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
    /// Checks the tokens of the users who start jobs.
    pub verifier: bgjobs_auth::Verifier,
}
