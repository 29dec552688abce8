//! jobsctl's dead-letter commands against the local RabbitMQ, Postgres and NATS, with
//! a jobs registry started in-process; each test has its own database and prefix.

mod helpers;
mod list;
mod replay;
