//! The ingest service: accepts uploads, stores them in S3, registers and publishes jobs.
//!
//! `POST /v1/accounts/{account_id}/jobs/product-upload` streams the CSV body to S3
//! (never holding it whole in memory), registers the job with jobs-registry over
//! gRPC, publishes the job message to RabbitMQ with a publisher confirm and answers
//! 202 with the job id.
//! `POST /v1/accounts/{account_id}/jobs/delete-client` registers and publishes a
//! Delete Client job (no body).
//! `POST /v1/accounts/{account_id}/jobs/warehouse-upload` takes a warehouse locations
//! file like a product upload, without a client. `GET /healthz` and `GET /readyz` are the probes.

mod application;
mod body;
pub mod delete_client;
mod error;
mod health;
pub mod settings;
mod state;
mod upload;
pub mod validation;
mod warehouse_upload;

pub use application::Application;
pub use error::Error;
pub use settings::Settings;
