//! Health, models, capabilities and skills.
//!
//! `platform` is `"hermes-agent"` on purpose: deployed clients tell the API server from
//! Hermes's webhook port (which also answers `/health`) by `platform ==
//! "hermes-agent"`, and validate `/v1/capabilities` the same way. `server: "herald"`
//! says what is actually answering.

use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::errors::JsonReply;
use crate::ids::unix_secs;
use crate::state::SharedState;

/// The platform name Hermes clients check for.
pub(crate) const PLATFORM: &str = "hermes-agent";

pub(crate) async fn health(State(state): State<SharedState>) -> JsonReply {
    JsonReply::ok(json!({
        "status": "ok",
        "platform": PLATFORM,
        "server": "herald",
        "version": state.config.version,
    }))
}

/// The gateway's state (`Backend::health`, the content of `gateway_state.json`) with the
/// API server's own numbers on top.
pub(crate) async fn detailed(State(state): State<SharedState>) -> JsonReply {
    let mut body = match state.backend.health() {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("gateway".into(), other);
            m
        }
    };
    let in_flight = state.turns.in_flight();
    let draining = state.turns.is_draining();
    let status = if draining { "draining" } else { "ok" };
    body.insert("status".into(), json!(status));
    body.insert("readiness".into(), json!({ "status": status }));
    body.insert("platform".into(), json!(PLATFORM));
    body.insert("server".into(), json!("herald"));
    body.insert("version".into(), json!(state.config.version));
    body.entry("gateway_state").or_insert(Value::Null);
    body.entry("platforms").or_insert(json!({}));
    body.entry("exit_reason").or_insert(Value::Null);
    body.entry("updated_at").or_insert(Value::Null);
    body.insert("active_agents".into(), json!(in_flight));
    body.insert("gateway_busy".into(), json!(in_flight > 0));
    body.insert("gateway_drainable".into(), json!(!draining));
    body.insert("pid".into(), json!(std::process::id()));
    JsonReply::ok(Value::Object(body))
}

pub(crate) async fn models(State(state): State<SharedState>) -> JsonReply {
    let now = unix_secs();
    let name = state.backend.model_name();
    let mut data = vec![json!({
        "id": name,
        "object": "model",
        "created": now,
        "owned_by": "hermes",
        "permission": [],
        "root": name,
        "parent": null,
    })];
    let mut routes = state.backend.model_routes();
    routes.sort();
    for (alias, model) in routes {
        data.push(json!({
            "id": alias,
            "object": "model",
            "created": now,
            "owned_by": "hermes",
            "permission": [],
            "root": model,
            "parent": name,
        }));
    }
    JsonReply::ok(json!({ "object": "list", "data": data }))
}

/// What this server really does. Approval features are `false`: herald's tools never
/// stop to ask for approval, so no run ever waits for one.
pub(crate) async fn capabilities(State(state): State<SharedState>) -> JsonReply {
    let endpoint = |method: &str, path: &str| json!({ "method": method, "path": path });
    JsonReply::ok(json!({
        "object": "hermes.api_server.capabilities",
        "platform": PLATFORM,
        "server": "herald",
        "version": state.config.version,
        "model": state.backend.model_name(),
        "auth": { "type": "bearer", "required": true },
        "runtime": {
            "mode": "server_agent",
            "tool_execution": "server",
            "split_runtime": false,
            "description": "The API server runs herald's agent; tools execute on the gateway host.",
        },
        "features": {
            "chat_completions": true,
            "chat_completions_streaming": true,
            "responses_api": true,
            "responses_streaming": true,
            "run_submission": true,
            "run_status": true,
            "run_events_sse": true,
            "run_stop": true,
            "run_approval_response": false,
            "tool_progress_events": true,
            "approval_events": false,
            "session_continuity_header": "X-Hermes-Session-Id",
            "session_key_header": "X-Hermes-Session-Key",
            "sessions_api": true,
            "session_chat_streaming": true,
            "idempotency_key": true,
            "image_inputs": false,
            "cors": state.cors.enabled(),
        },
        "endpoints": {
            "health": endpoint("GET", "/health"),
            "health_detailed": endpoint("GET", "/health/detailed"),
            "models": endpoint("GET", "/v1/models"),
            "skills": endpoint("GET", "/v1/skills"),
            "chat_completions": endpoint("POST", "/v1/chat/completions"),
            "responses": endpoint("POST", "/v1/responses"),
            "response": endpoint("GET", "/v1/responses/{response_id}"),
            "runs": endpoint("POST", "/v1/runs"),
            "run_status": endpoint("GET", "/v1/runs/{run_id}"),
            "run_events": endpoint("GET", "/v1/runs/{run_id}/events"),
            "run_approval": endpoint("POST", "/v1/runs/{run_id}/approval"),
            "run_stop": endpoint("POST", "/v1/runs/{run_id}/stop"),
            "sessions": endpoint("GET", "/api/sessions"),
            "session": endpoint("GET", "/api/sessions/{session_id}"),
            "session_messages": endpoint("GET", "/api/sessions/{session_id}/messages"),
            "session_fork": endpoint("POST", "/api/sessions/{session_id}/fork"),
            "session_chat": endpoint("POST", "/api/sessions/{session_id}/chat"),
            "session_chat_stream": endpoint("POST", "/api/sessions/{session_id}/chat/stream"),
            "openapi": endpoint("GET", "/openapi.json"),
        },
    }))
}

/// herald has no skills yet; this says so in the shape clients expect.
pub(crate) async fn skills() -> JsonReply {
    JsonReply::ok(json!({ "object": "list", "data": [] }))
}
