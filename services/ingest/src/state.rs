//! What every request handler shares: cheap-to-clone handles on the outside world.

use std::sync::Arc;

use bgjobs_messaging::amqp::JobPublisher;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use bgjobs_storage::ObjectStore;
use tonic::transport::Channel;

/// The handles of one running ingest.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The bucket of input files.
    pub store: ObjectStore,
    /// The registry client on a lazily connected channel.
    pub registry: JobsRegistryClient<Channel>,
    /// Publishes job messages with confirms; clones share one channel.
    pub publisher: JobPublisher,
    /// The broker connection, for readiness.
    pub amqp: Arc<lapin::Connection>,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
}
