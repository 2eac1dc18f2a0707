//! Webhook mode: `setWebhook` with a secret token, and a listener that checks the
//! secret header in constant time and answers 200 only once the update is recorded
//! (any other answer makes Telegram deliver it again).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use herald_core::{AdapterError, InboundSink, SinkError};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::api::CALL_TIMEOUT;
use super::inbound::{self, Ctx, Retry};
use super::poll::ALLOWED_UPDATES;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Telegram's rule for `secret_token`: 1-256 characters of `A-Z a-z 0-9 _ -`.
pub fn secret_ok(secret: &str) -> bool {
    (1..=256).contains(&secret.len()) && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The path the listener serves: the path of the public URL (a reverse proxy forwards
/// it unchanged), `/` when the URL has none.
pub fn listen_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if path.is_empty() { "/".into() } else { path.to_string() }
}

struct Hook {
    ctx: Ctx,
    sink: Arc<dyn InboundSink>,
    secret: String,
}

pub struct WebhookParams<'a> {
    pub url: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub secret: &'a str,
}

pub async fn run(ctx: Ctx, sink: Arc<dyn InboundSink>, p: WebhookParams<'_>) -> Result<(), AdapterError> {
    // Listen first, so the first delivery after setWebhook finds the port open.
    let listener = tokio::net::TcpListener::bind((p.host, p.port)).await.map_err(|e| {
        AdapterError::Disconnected(format!("cannot listen for the Telegram webhook on {}:{}: {e}", p.host, p.port))
    })?;
    let body = json!({"url": p.url, "secret_token": p.secret, "allowed_updates": ALLOWED_UPDATES});
    ctx.api.call::<bool>("setWebhook", &body, CALL_TIMEOUT).await.map_err(|e| e.to_adapter_error())?;
    sink.connected(Some(format!("@{} (webhook)", ctx.bot.username)));
    let path = listen_path(p.url);
    let hook = Arc::new(Hook { ctx, sink, secret: p.secret.to_string() });
    let app = Router::new().route(&path, post(receive)).with_state(hook);
    axum::serve(listener, app)
        .await
        .map_err(|e| AdapterError::Disconnected(format!("the Telegram webhook listener stopped: {e}")))?;
    Err(AdapterError::Disconnected("the Telegram webhook listener stopped".into()))
}

async fn receive(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if !bool::from(given.ct_eq(hook.secret.as_bytes())) {
        tracing::warn!("Telegram webhook call refused: wrong or missing secret token header");
        return StatusCode::FORBIDDEN;
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            // Answer 200 so Telegram does not send the same broken body forever.
            tracing::warn!(error = %super::parse::Malformed::from(e), "skipping a malformed Telegram webhook body");
            return StatusCode::OK;
        }
    };
    match inbound::handle(&hook.ctx, value, &hook.sink).await {
        Ok(()) => StatusCode::OK,
        Err(Retry::Sink(SinkError::ShuttingDown)) => StatusCode::SERVICE_UNAVAILABLE,
        Err(e) => {
            tracing::warn!(error = %e, "Telegram webhook update not recorded; Telegram will deliver it again");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_follow_telegrams_rule() {
        assert!(secret_ok("abc_DEF-123"));
        assert!(!secret_ok(""));
        assert!(!secret_ok("has space"));
        assert!(!secret_ok(&"a".repeat(257)));
    }

    #[test]
    fn the_listener_serves_the_urls_path() {
        assert_eq!(listen_path("https://bot.example.com/telegram/hook?x=1"), "/telegram/hook");
        assert_eq!(listen_path("https://bot.example.com"), "/");
        assert_eq!(listen_path("http://127.0.0.1:8443/"), "/");
    }
}
