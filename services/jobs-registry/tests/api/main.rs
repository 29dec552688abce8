//! The registry through its public interfaces (gRPC and JetStream), against the real
//! Postgres and NATS of the local stack, started in-process on port 0 per test.

mod bounded_server;
mod create_job;
mod events;
mod health;
mod helpers;
mod lanes;
mod lifecycle;
mod list_jobs;
mod notes;
mod object_keys;
mod outages;
mod read_scoping;
mod replay;
mod stall_judging;
mod startup;
mod watch_jobs;
