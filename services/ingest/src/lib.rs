//! The ingest service: accepts uploads, stores them in S3, registers and publishes jobs.
