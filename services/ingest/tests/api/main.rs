//! ingest through its HTTP API, against the local stack (`deploy/stack.sh up`) and an
//! in-process jobs-registry.

mod dead_letter_watch;
mod helpers;

mod health;
mod recipient;
mod refused_uploads;
mod unavailable;
mod upload;
