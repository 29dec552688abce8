//! jobsctl: the operators' command line. This library holds the commands, so
//! tests can run them against a registry started in-process and the real broker.

pub mod dlq;
pub mod jobs;
pub mod queues;
pub mod render;
pub mod settings;
