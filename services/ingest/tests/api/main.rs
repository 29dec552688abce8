//! ingest through its HTTP API, against the local stack (`deploy/stack.sh up`) and an
//! in-process jobs-registry.

mod bounded_server;
mod dead_letter_watch;
mod delete_client;
mod helpers;

mod health;
mod mutual_tls;
mod recipient;
mod refused_uploads;
mod unavailable;
mod upload;
mod users;
