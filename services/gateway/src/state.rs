//! What every handler shares: clients of the services behind the gateway, the token
//! verifier, the download link signer. Cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use bgjobs_object_store::ObjectStore;
use bgjobs_proto::v1::ingest_client::IngestClient;
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::auth::{SigningKey, Verifier};
use crate::links::LinkSigner;
use crate::live_streams::OpenStreams;

/// The demo users' sign-in, when enabled.
#[derive(Debug)]
pub struct Demo {
    /// The key their tokens are signed with.
    pub key: SigningKey,
    /// The issuer their tokens name.
    pub issuer: String,
    /// The audience their tokens name.
    pub audience: String,
}

/// The state shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Checks bearer tokens.
    pub verifier: Verifier,
    /// The jobs registry (reads, live changes).
    pub registry: JobsRegistryClient<Channel>,
    /// The HTTP client uploads and deletions are forwarded to ingest with: mutual TLS
    /// with the gateway's certificate, and only to a server that proves it is ingest.
    pub http: reqwest::Client,
    /// Ingest's HTTP base URL.
    pub ingest_url: String,
    /// Ingest's gRPC API: retries (ingest republishes the job).
    pub ingest: IngestClient<Channel>,
    /// Results files.
    pub objects: ObjectStore,
    /// Signs and checks download links.
    pub links: LinkSigner,
    /// An In Progress job silent for longer is stalled.
    pub stall_threshold: Duration,
    /// The live update streams open, counted against their limits.
    pub live_streams: OpenStreams,
    /// Demo sign-in, only with `BGJOBS_GATEWAY_DEMO_USERS=true`.
    pub demo: Option<Arc<Demo>>,
    /// Cancelled when the gateway starts shutting down: live update streams end then,
    /// so an open page does not hold the drain up (it reconnects to another replica).
    pub stopping: CancellationToken,
}

impl AppState {
    /// The stall threshold as a time difference.
    pub fn stall_delta(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.stall_threshold).unwrap_or(chrono::TimeDelta::MAX)
    }
}
