//! RabbitMQ job queues (lapin) and NATS JetStream job events (async-nats) of bgjobs.
