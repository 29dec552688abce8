//! jobsctl: the operators' command line. This library holds the commands, so
//! tests can run them against a registry started in-process.

pub mod jobs;
pub mod render;
