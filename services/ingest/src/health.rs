//! Liveness and readiness probes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bgjobs_service::ops;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /healthz`: the process serves requests. It fails only when the broker
/// connection is closed for good: it does not reconnect by itself, so a restart is
/// the way back (and it redelivers nothing, since ingest holds no deliveries).
pub(crate) async fn liveness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let status = state.amqp.status();
    if status.closed() || status.errored() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "broken", "message": "the job queue connection is closed; restart ingest" }),
            ),
        );
    }
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// `GET /readyz`: 200 while the broker connection is up, since without it no upload
/// can be queued; 503 otherwise, so the load balancer sends uploads elsewhere.
pub(crate) async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.amqp.status().connected() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "message": "the job queue is not connected" })),
        )
    }
}

/// Readiness on the operations port: the same as `/readyz`.
pub(crate) struct QueueConnected(pub(crate) Arc<lapin::Connection>);

impl ops::Readiness for QueueConnected {
    async fn check(&self) -> Result<(), String> {
        if self.0.status().connected() {
            Ok(())
        } else {
            Err("the job queue is not connected".to_owned())
        }
    }
}
