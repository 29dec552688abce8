//! Tracing and OpenTelemetry set-up shared by every bgjobs service.
