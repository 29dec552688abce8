//! RabbitMQ job queues (lapin) and NATS JetStream job events (async-nats) of bgjobs.
//!
//! - [`amqp`]: the job topology (topic exchange, one quorum queue per job type with a
//!   delivery limit and at-least-once dead-lettering), a confirming publisher and a
//!   manual-ack consumer of `JobMessage`s.
//! - [`events`]: the JetStream stream of `JobEvent`s, a de-duplicating publisher and
//!   durable pull consumers.
//! - [`Names`]: every name, behind a prefix so tests can share one broker.

pub mod amqp;
mod error;
pub mod events;
mod names;

pub use error::Error;
pub use names::Names;
