//! `/api/sessions`: list, create, read, update, delete, messages, fork.
//!
//! Session ids from paths and bodies are checked (no control characters, no path
//! traversal, at most 256 characters) before the backend is asked anything.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::backend::{MessageInfo, NewApiSession, SessionInfo, SessionQuery};
use serde_json::{Value, json};

use crate::body::{PathParam, QueryMap, opt_scalar_string, opt_string, query_int, read_object};
use crate::content::{coerce_bool, scalar_text, truthy};
use crate::errors::{ApiError, ApiResult, JsonReply};
use crate::headers::validate_session_id;
use crate::ids::api_session_id;
use crate::outcome::openai_tool_calls;
use crate::state::SharedState;

/// A session as clients see it. The system prompt itself is not exposed (only whether
/// there is one), as in Hermes.
pub(crate) fn session_json(s: &SessionInfo) -> Value {
    json!({
        "id": s.id,
        "source": s.source,
        "model": s.model,
        "title": s.title,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "end_reason": s.end_reason,
        "message_count": s.message_count,
        "tool_call_count": s.tool_call_count,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "parent_session_id": s.parent_session_id,
        "last_active": s.updated_at,
        "has_system_prompt": s.system_prompt.as_deref().is_some_and(|p| !p.is_empty()),
        "has_model_config": false,
    })
}

fn message_json(m: &MessageInfo) -> Value {
    json!({
        "id": m.id,
        "session_id": m.session_id,
        "role": m.role.as_str(),
        "content": m.content,
        "tool_call_id": m.tool_call_id,
        "tool_calls": openai_tool_calls(&m.tool_calls),
        "tool_name": m.tool_name,
        "timestamp": m.timestamp,
        "token_count": m.token_count,
        "finish_reason": m.finish_reason,
    })
}

fn session_reply(s: &SessionInfo) -> JsonReply {
    JsonReply::ok(json!({"object": "hermes.session", "session": session_json(s)}))
}

pub(crate) fn session_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Session not found: {id}"), "session_not_found")
}

/// The session named in the path, which must exist.
pub(crate) async fn existing(state: &SharedState, id: &str) -> ApiResult<SessionInfo> {
    validate_session_id(id, "session_id")?;
    state.backend.session(id).await.map_err(|e| state.backend_error(e))?.ok_or_else(|| session_not_found(id))
}

pub(crate) async fn list(State(state): State<SharedState>, QueryMap(query): QueryMap) -> ApiResult {
    let limit = query_int(&query, "limit", 50, 200);
    let offset = query_int(&query, "offset", 0, 1_000_000);
    let source = query.get("source").filter(|s| !s.is_empty()).cloned();
    let include_children = coerce_bool(query.get("include_children").map(|v| Value::String(v.clone())).as_ref(), false);
    let page = state
        .backend
        .list_sessions(SessionQuery { limit, offset, source, include_children })
        .await
        .map_err(|e| state.backend_error(e))?;
    Ok(JsonReply::ok(json!({
        "object": "list",
        "data": page.sessions.iter().map(session_json).collect::<Vec<_>>(),
        "limit": limit,
        "offset": offset,
        "has_more": page.has_more,
    })))
}

pub(crate) async fn create(State(state): State<SharedState>, body: Body) -> ApiResult {
    let body = read_object(body, true).await?;
    let raw_id = [body.get("id"), body.get("session_id")].into_iter().find(|v| truthy(*v)).flatten();
    let id = match raw_id {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => scalar_text(v).trim().to_string(),
        Some(_) => return Err(ApiError::bad_request("Invalid session ID").param("id").code("invalid_session_id")),
        None => api_session_id(),
    };
    validate_session_id(&id, "id")?;
    let system_prompt = match body.get("system_prompt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request("system_prompt must be a string")
                .param("system_prompt")
                .code("invalid_system_prompt"));
        }
    };
    let model =
        opt_scalar_string(&body, "model")?.filter(|m| !m.is_empty()).unwrap_or_else(|| state.backend.model_name());
    let title = opt_scalar_string(&body, "title")?;
    let new = NewApiSession { id: id.clone(), model: Some(model), system_prompt, title };
    match state.backend.create_session(new).await {
        Ok(session) => Ok(session_reply(&session).status(StatusCode::CREATED)),
        Err(herald_core::backend::BackendError::Conflict(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, format!("Session already exists: {id}")).code("session_exists"))
        }
        Err(e) => Err(state.backend_error(e)),
    }
}

pub(crate) async fn fetch(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    Ok(session_reply(&existing(&state, &id).await?))
}

/// Only `title` and `end_reason` may change; anything else is refused by name.
pub(crate) async fn update(State(state): State<SharedState>, PathParam(id): PathParam, body: Body) -> ApiResult {
    let current = existing(&state, &id).await?;
    let body = read_object(body, true).await?;
    let mut unknown: Vec<&str> =
        body.keys().map(String::as_str).filter(|k| !["title", "end_reason"].contains(k)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(ApiError::bad_request(format!("Unsupported session fields: {}", unknown.join(", ")))
            .code("unsupported_session_field"));
    }
    let title = match body.get("title") {
        None => None,
        // `null` clears the title, as in Hermes.
        Some(Value::Null) => Some(String::new()),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Some(scalar_text(v)),
        Some(_) => return Err(ApiError::bad_request("title must be a string").param("title").code("invalid_title")),
    };
    let end_reason = if truthy(body.get("end_reason")) { opt_scalar_string(&body, "end_reason")? } else { None };
    if title.is_none() && end_reason.is_none() {
        return Ok(session_reply(&current));
    }
    let updated = state.backend.update_session(&id, title, end_reason).await.map_err(|e| state.backend_error(e))?;
    Ok(session_reply(&updated))
}

pub(crate) async fn remove(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    existing(&state, &id).await?;
    let deleted = state.backend.delete_session(&id).await.map_err(|e| state.backend_error(e))?;
    Ok(JsonReply::ok(json!({"object": "hermes.session.deleted", "id": id, "deleted": deleted})))
}

pub(crate) async fn messages(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    existing(&state, &id).await?;
    let messages = state.backend.session_messages(&id).await.map_err(|e| state.backend_error(e))?;
    Ok(JsonReply::ok(json!({
        "object": "list",
        "session_id": id,
        "data": messages.iter().map(message_json).collect::<Vec<_>>(),
    })))
}

/// Ends the session with reason `branched` and creates a child holding its messages. The
/// child's id is chosen by the gateway; a `title` in the body names it.
pub(crate) async fn fork(State(state): State<SharedState>, PathParam(id): PathParam, body: Body) -> ApiResult {
    existing(&state, &id).await?;
    let body = read_object(body, true).await?;
    if truthy(body.get("id")) || truthy(body.get("session_id")) {
        return Err(ApiError::bad_request(
            "Choosing the fork's id is not supported; omit 'id' and read it from the reply",
        )
        .param("id")
        .code("unsupported_session_field"));
    }
    let title = opt_string(&body, "title")?;
    let mut child = state.backend.fork_session(&id).await.map_err(|e| state.backend_error(e))?;
    if let Some(title) = title {
        child = state.backend.update_session(&child.id, Some(title), None).await.map_err(|e| state.backend_error(e))?;
    }
    Ok(session_reply(&child).status(StatusCode::CREATED))
}
