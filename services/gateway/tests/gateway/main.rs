//! The gateway through its HTTP API, in front of the whole system started in-process
//! against the local stack (`deploy/stack.sh up`).

mod helpers;

mod authorization;
mod browser;
mod demo;
mod downloads;
mod jobs;
mod live;
