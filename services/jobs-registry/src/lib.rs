//! The jobs registry: single writer of job state, applying job events from JetStream and serving gRPC.
