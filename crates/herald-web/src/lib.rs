//! The OpenAI-compatible API server: Hermes's API server contract (same paths, JSON
//! shapes, status codes, headers and error envelopes), so existing Hermes API clients
//! work unchanged against herald. Everything it needs from the gateway comes through
//! [`herald_core::backend::Backend`]. See `docs/api.md`.

mod auth;
mod body;
mod chat;
mod chat_stream;
mod content;
mod cors;
mod errors;
mod headers;
mod health;
mod idempotency;
mod ids;
mod layers;
mod logins;
mod openapi;
mod outcome;
mod responses;
mod responses_stream;
mod routes;
mod runs;
mod session_chat;
mod sessions;
mod sse;
mod state;
mod turn;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use herald_core::backend::Backend;
use tokio_util::sync::CancellationToken;

use crate::state::{AppState, SharedState};

/// How long cancelled turns get to unwind after the drain timeout.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// How long open connections get to finish writing once the drain is over.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The API server's settings.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer key every request but health must carry (validated ≥16 characters by
    /// the caller).
    pub key: String,
    /// Browser origins allowed to call the API; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// Most turns running at once across chat, responses, runs and session chat
    /// (0 = no cap).
    pub max_concurrent_runs: u32,
    /// How long running turns get to finish once shutdown begins.
    pub drain_timeout: Duration,
    /// herald's version, reported by `/health`.
    pub version: String,
}

impl std::fmt::Debug for ApiConfig {
    // The key never appears in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("key", &"[REDACTED]")
            .field("cors_origins", &self.cors_origins)
            .field("max_concurrent_runs", &self.max_concurrent_runs)
            .field("drain_timeout", &self.drain_timeout)
            .field("version", &self.version)
            .finish()
    }
}

/// The API server.
pub struct ApiServer {
    state: SharedState,
}

impl ApiServer {
    pub fn new(config: ApiConfig, backend: Arc<dyn Backend>) -> ApiServer {
        ApiServer { state: Arc::new(AppState::new(config, backend)) }
    }

    /// Serves `/api/platforms/{platform}/login…` through `logins`.
    pub fn with_logins(mut self, logins: Arc<dyn herald_core::login::Logins>) -> ApiServer {
        Arc::get_mut(&mut self.state).expect("logins are set before the server is shared").logins = Some(logins);
        self
    }

    /// The full application: every route with its middleware.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Turns currently running, including requests admitted to start one.
    pub fn in_flight(&self) -> usize {
        self.state.turns.in_flight()
    }

    /// Serves until `shutdown` resolves; then new requests get 503 `gateway_draining`
    /// (Retry-After: 1), running turns get up to `drain_timeout` to finish, then are
    /// cancelled (their futures dropped, so the backend records partial work), and serve
    /// returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        // Streaming answers are many small writes; without TCP_NODELAY, Nagle's algorithm
        // holds each one until the client's delayed ACK (about 40 ms on Linux).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
            }
        });
        let server = axum::serve(listener, self.router())
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .into_future();
        let mut server = tokio::spawn(server);
        tokio::select! {
            result = &mut server => return joined(result),
            _ = shutdown => {}
        }

        // Keep accepting, so callers get a retryable 503 instead of a refused connection
        // while the running turns finish.
        let turns = &self.state.turns;
        turns.begin_drain();
        tracing::info!(in_flight = turns.in_flight(), timeout = ?self.state.config.drain_timeout, "API server draining");
        if !turns.wait_idle(self.state.config.drain_timeout).await {
            tracing::warn!(in_flight = turns.in_flight(), "drain timeout: cancelling running API turns");
            turns.cancel_all();
            if !turns.wait_idle(CANCEL_GRACE).await {
                tracing::warn!(in_flight = turns.in_flight(), "API turns still unwinding after cancellation");
            }
        }
        stop.cancel();
        match tokio::time::timeout(CLOSE_GRACE, &mut server).await {
            Ok(result) => joined(result),
            Err(_) => {
                tracing::warn!("API connections still open after the drain; closing them");
                server.abort();
                Ok(())
            }
        }
    }
}

fn joined(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    match result {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(format!("API server task failed: {e}"))),
    }
}

/// Entry points for the fuzz targets (`fuzz/fuzz_targets/api_requests.rs`): the parsers
/// of outside input, over raw bytes, without a server. Not part of the supported API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::{Map, Value};

    fn object(body: &[u8]) -> Option<Map<String, Value>> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// Parses a `/v1/chat/completions` body; `Some(true)` when accepted.
    pub fn chat_completions(body: &[u8]) -> Option<bool> {
        let map = object(body)?;
        Some(match crate::chat::parse(&map) {
            Ok(request) => {
                // Whatever is accepted must have a visible input and a derivable session id.
                assert!(!request.input.is_empty());
                let id = crate::ids::derive_chat_session_id(request.system.as_deref(), &request.first_user);
                assert!(id.starts_with("api-") && id.len() == 20);
                true
            }
            Err(_) => false,
        })
    }

    /// Parses a `/v1/responses` body; `Some(true)` when accepted.
    pub fn responses(body: &[u8]) -> Option<bool> {
        let map = object(body)?;
        Some(crate::responses::parse(&map).is_ok())
    }

    /// Checks a session id as the `X-Hermes-Session-Id` header or a path would carry it.
    pub fn session_id(id: &str) -> bool {
        let ok = crate::headers::session_id_problem(id).is_none();
        if ok {
            assert!(!herald_core::is_path_unsafe(id) && id.chars().count() <= 256);
        }
        ok
    }
}
