//! The gateway through its HTTP API, in front of the whole system started in-process
//! against the local stack (`deploy/stack.sh up`).

mod helpers;

mod authorization;
mod bounded_server;
mod browser;
mod delete_client;
mod demo;
mod downloads;
mod headers;
mod jobs;
mod jwks;
mod live;
mod live_limits;
mod metrics;
mod notify;
mod tenant_probe;
