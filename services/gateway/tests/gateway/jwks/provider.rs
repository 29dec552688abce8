//! An identity provider's JWKS endpoint served by the test on loopback: it records
//! when it is fetched, can publish other keys, be down (503) or hold its answers until
//! the test lets them go.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The JWKS endpoint.
pub struct Provider {
    /// The document's URL.
    pub url: String,
    state: Arc<ProviderState>,
    _stop: DropGuard,
}

struct ProviderState {
    keys: Mutex<serde_json::Value>,
    down: Mutex<bool>,
    fetched_at: Mutex<Vec<Instant>>,
    /// `true` while answers are held back.
    held: watch::Sender<bool>,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn document(State(state): State<Arc<ProviderState>>) -> Response {
    locked(&state.fetched_at).push(Instant::now());
    let mut held = state.held.subscribe();
    let _released = held.wait_for(|held| !held).await;
    if *locked(&state.down) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    Json(json!({ "keys": locked(&state.keys).clone() })).into_response()
}

impl Provider {
    /// Serves a JWKS of `keys` (a JSON array) on a free loopback port.
    pub async fn serve(keys: serde_json::Value) -> anyhow::Result<Self> {
        let state = Arc::new(ProviderState {
            keys: Mutex::new(keys),
            down: Mutex::new(false),
            fetched_at: Mutex::new(Vec::new()),
            held: watch::Sender::new(false),
        });
        let app = axum::Router::new()
            .route("/.well-known/jwks.json", get(document))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr()?);
        let stop = CancellationToken::new();
        let stopped = stop.clone().cancelled_owned();
        tokio::spawn(
            async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await },
        );
        Ok(Self { url, state, _stop: stop.drop_guard() })
    }

    /// How many times the document was asked for.
    pub fn fetches(&self) -> usize {
        locked(&self.state.fetched_at).len()
    }

    /// When the document was asked for, in order.
    pub fn fetch_times(&self) -> Vec<Instant> {
        locked(&self.state.fetched_at).clone()
    }

    /// Publishes `keys` from now on.
    pub fn publish(&self, keys: serde_json::Value) {
        *locked(&self.state.keys) = keys;
    }

    /// Answers 503 (`true`) or the document (`false`) from now on.
    pub fn set_down(&self, down: bool) {
        *locked(&self.state.down) = down;
    }

    /// Holds every answer back until [`Provider::release`].
    pub fn hold(&self) {
        self.state.held.send_replace(true);
    }

    /// Lets the held answers (and every later one) go.
    pub fn release(&self) {
        self.state.held.send_replace(false);
    }
}
