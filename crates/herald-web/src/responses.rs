//! `POST /v1/responses`, `GET`/`DELETE /v1/responses/{id}` (Hermes §2.5).
//!
//! A stored response is kept through the backend as
//! `{"response", "conversation_history", "instructions", "session_id"}`: the public
//! object plus what the next response in the chain needs (its transcript, carried-forward
//! instructions and session).

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use herald_core::backend::{History, TurnOutcome, TurnRequest, TurnStatus};
use herald_core::{Message, Role, is_path_unsafe};
use serde_json::{Map, Value, json};

use crate::body::{PathParam, opt_string, read_object};
use crate::content::{coerce_bool, has_visible_text, normalize_content, scalar_text, truthy};
use crate::errors::{ApiError, ApiResult, JsonReply, SERVER_ERROR};
use crate::headers::{idempotency_key_header, session_headers, session_key_header};
use crate::idempotency::{Scope, fingerprint};
use crate::ids::{response_id, unix_secs, uuid4};
use crate::outcome::{Verdict, message_from_json, turn_messages, usage};
use crate::responses_stream;
use crate::state::SharedState;
use crate::turn::{Permit, TurnHandle, spawn_turn};

/// History kept by `truncation: "auto"` (Hermes: 100 messages).
const TRUNCATED_HISTORY: usize = 100;

#[derive(Debug)]
pub(crate) struct ResponsesRequest {
    pub input_history: Vec<Message>,
    pub input: String,
    pub instructions: Option<String>,
    pub previous_response_id: Option<String>,
    pub conversation: Option<String>,
    pub conversation_history: Option<Vec<Message>>,
    pub store: bool,
    pub truncate: bool,
    pub model: Option<String>,
    pub stream: bool,
}

fn role_of(role: &str) -> Option<Role> {
    match role {
        "system" | "developer" => Some(Role::System),
        "assistant" => Some(Role::Assistant),
        // A tool result without its call cannot be replayed to a model.
        "tool" => None,
        _ => Some(Role::User),
    }
}

fn message(role: Role, content: String) -> Message {
    Message { role, content, tool_calls: Vec::new(), tool_call_id: None, tool_name: None }
}

/// A non-empty string field; empty strings count as absent, as in Hermes.
fn non_empty(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    Ok(opt_string(body, key)?.filter(|s| !s.is_empty()))
}

pub(crate) fn parse(body: &Map<String, Value>) -> Result<ResponsesRequest, ApiError> {
    let mut items: Vec<Message> = Vec::new();
    match body.get("input") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("Missing 'input' field").param("input").code("missing_input"));
        }
        Some(Value::String(s)) => items.push(Message::user(s.clone())),
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                match item {
                    Value::String(s) => items.push(Message::user(s.clone())),
                    Value::Object(o) if o.contains_key("role") || o.contains_key("content") => {
                        let role = o.get("role").map(scalar_text).unwrap_or_else(|| "user".into());
                        let content = normalize_content(
                            o.get("content").unwrap_or(&Value::Null),
                            &format!("input[{i}].content"),
                        )?;
                        if let Some(role) = role_of(&role) {
                            items.push(message(role, content));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(_) => {
            return Err(ApiError::bad_request("'input' must be a string or array")
                .param("input")
                .code("invalid_input"));
        }
    }
    let conversation_history = if truthy(body.get("conversation_history")) {
        let Some(entries) = body.get("conversation_history").and_then(Value::as_array) else {
            return Err(ApiError::bad_request("'conversation_history' must be an array of message objects")
                .param("conversation_history")
                .code("invalid_conversation_history"));
        };
        let mut history = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let entry = entry.as_object().filter(|e| e.contains_key("role") && e.contains_key("content"));
            let Some(entry) = entry else {
                return Err(ApiError::bad_request(format!(
                    "conversation_history[{i}] must have 'role' and 'content' fields"
                ))
                .param(format!("conversation_history[{i}]"))
                .code("invalid_conversation_history"));
            };
            let content = normalize_content(&entry["content"], &format!("conversation_history[{i}].content"))?;
            if let Some(role) = role_of(&scalar_text(&entry["role"])) {
                history.push(message(role, content));
            }
        }
        Some(history)
    } else {
        None
    };
    let previous_response_id = non_empty(body, "previous_response_id")?;
    let conversation = non_empty(body, "conversation")?;
    if previous_response_id.is_some() && conversation.is_some() {
        return Err(ApiError::bad_request("Cannot use both 'conversation' and 'previous_response_id'")
            .param("conversation")
            .code("conflicting_parameters"));
    }
    let input = items.pop().map(|m| m.content).unwrap_or_default();
    if !has_visible_text(&input) {
        return Err(ApiError::bad_request("No user message found in input")
            .param("input")
            .code("missing_user_message"));
    }
    Ok(ResponsesRequest {
        input_history: items,
        input,
        instructions: opt_string(body, "instructions")?,
        previous_response_id,
        conversation,
        conversation_history,
        store: coerce_bool(body.get("store"), true),
        truncate: body.get("truncation").and_then(Value::as_str) == Some("auto"),
        model: opt_string(body, "model")?,
        stream: coerce_bool(body.get("stream"), false),
    })
}

/// Everything a response needs once its chain is resolved.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub id: String,
    /// The model the response reports: the one asked for, else the advertised one.
    pub model: String,
    /// The model the client named (passed to the backend, which resolves aliases).
    pub requested_model: Option<String>,
    pub created_at: u64,
    pub session_id: String,
    pub session_key: Option<String>,
    pub history: Vec<Message>,
    pub input: String,
    pub instructions: Option<String>,
    pub conversation: Option<String>,
    pub store: bool,
}

impl Prepared {
    /// The transcript to store: history, the user's input, then `turn`.
    pub fn transcript(&self, turn: Vec<Message>) -> Value {
        let mut all = self.history.clone();
        all.push(Message::user(self.input.clone()));
        all.extend(turn);
        serde_json::to_value(all).unwrap_or(Value::Array(vec![]))
    }

    pub fn envelope(&self, status: &str) -> Value {
        json!({"id": self.id, "object": "response", "status": status, "created_at": self.created_at, "model": self.model})
    }

    /// Stores `response` (when `store`), moving a named conversation's head to it.
    pub async fn save(&self, state: &SharedState, response: Value, transcript: Value) {
        if !self.store {
            return;
        }
        let record = json!({
            "response": response,
            "conversation_history": transcript,
            "instructions": self.instructions,
            "session_id": self.session_id,
        });
        if let Err(e) = state.backend.put_response(&self.id, record, self.conversation.as_deref()).await {
            tracing::error!(response = %self.id, error = %state.redact(&e.to_string()), "could not store a response");
        }
    }
}

async fn resolve(state: &SharedState, req: ResponsesRequest, session_key: Option<String>) -> ApiResult<Prepared> {
    let mut previous = req.previous_response_id;
    if let Some(name) = &req.conversation {
        // A conversation that does not exist yet simply starts here.
        previous = state.backend.conversation_head(name).await.map_err(|e| state.backend_error(e))?;
    }
    let mut instructions = req.instructions;
    let mut stored_session = None;
    let mut history = match req.conversation_history {
        Some(h) => h,
        None => match previous {
            None => Vec::new(),
            Some(prev) => {
                let Some(stored) = state.backend.response(&prev).await.map_err(|e| state.backend_error(e))? else {
                    return Err(ApiError::not_found(
                        format!("Previous response not found: {prev}"),
                        "previous_response_not_found",
                    )
                    .param("previous_response_id"));
                };
                stored_session = stored.get("session_id").and_then(Value::as_str).map(str::to_string);
                if instructions.is_none() {
                    instructions = stored.get("instructions").and_then(Value::as_str).map(str::to_string);
                }
                stored
                    .get("conversation_history")
                    .and_then(Value::as_array)
                    .map(|h| h.iter().filter_map(message_from_json).collect())
                    .unwrap_or_default()
            }
        },
    };
    history.extend(req.input_history);
    if req.truncate && history.len() > TRUNCATED_HISTORY {
        history.drain(..history.len() - TRUNCATED_HISTORY);
    }
    Ok(Prepared {
        id: response_id(),
        model: req.model.clone().unwrap_or_else(|| state.backend.model_name()),
        requested_model: req.model,
        created_at: unix_secs(),
        session_id: stored_session.unwrap_or_else(uuid4),
        session_key,
        history,
        input: req.input,
        instructions,
        conversation: req.conversation,
        store: req.store,
    })
}

pub(crate) async fn create(State(state): State<SharedState>, headers: HeaderMap, body: Body) -> Response {
    match handle(state, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: SharedState, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let permit = state.turns.admit()?;
    let session_key = session_key_header(&headers)?;
    let body = read_object(body, false).await?;
    let req = parse(&body)?;
    let stream = req.stream;
    let idempotency_key = if stream { None } else { idempotency_key_header(&headers)? };
    let Some(key) = idempotency_key else {
        let prepared = resolve(&state, req, session_key).await?;
        let handle = start(&state, permit, &prepared);
        if stream {
            return Ok(responses_stream::respond(state, handle, prepared));
        }
        return Ok(complete(state, handle, prepared).await.into_response());
    };
    let fp = fingerprint(
        &body,
        &["input", "instructions", "previous_response_id", "conversation", "model", "tools"],
        &[("X-Hermes-Session-Key", session_key.as_deref())],
    );
    // Resolved and started only if no reply is stored for this key and request; the
    // cache runs it in its own task, so it finishes even if this client disconnects.
    let st = state.clone();
    let compute = async move {
        let prepared = resolve(&st, req, session_key).await?;
        let handle = start(&st, permit, &prepared);
        complete(st, handle, prepared).await
    };
    Ok(state.idempotency.run(Scope::Responses, key, fp, compute).await.into_response())
}

fn start(state: &SharedState, permit: Permit, p: &Prepared) -> TurnHandle {
    let turn = TurnRequest {
        session_id: p.session_id.clone(),
        session_key: p.session_key.clone(),
        history: History::Provided(p.history.clone()),
        input: p.input.clone(),
        ephemeral_system: p.instructions.clone(),
        model: p.requested_model.clone(),
        title: None,
    };
    spawn_turn(state.backend.clone(), &state.turns, permit, turn)
}

async fn complete(state: SharedState, handle: TurnHandle, prepared: Prepared) -> ApiResult {
    let outcome = handle.finish().await.map_err(|e| {
        tracing::error!(error = %state.redact(&e.to_string()), "response failed");
        state.backend_error(e)
    })?;
    let response = response_object(&state, &prepared, &outcome);
    prepared.save(&state, response.clone(), prepared.transcript(turn_messages(&outcome))).await;
    let headers = session_headers(&outcome.session_id, prepared.session_key.as_deref());
    Ok(JsonReply::ok(response).headers(headers))
}

/// Output items of a finished turn: each tool call and its result, then the answer.
pub(crate) fn output_items(outcome: &TurnOutcome, text: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for (call, result) in &outcome.tool_calls {
        items
            .push(json!({"type": "function_call", "name": call.name, "arguments": call.arguments, "call_id": call.id}));
        items.push(json!({"type": "function_call_output", "call_id": call.id, "output": result}));
    }
    items.push(final_message(text));
    items
}

pub(crate) fn final_message(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
}

/// Status, and the `error` / `incomplete_details` members, of a finished turn. Unlike
/// Hermes (which reports every turn as `completed`), a failed turn is `failed` and a
/// truncated or cancelled one `incomplete`.
pub(crate) fn status_fields(
    state: &SharedState,
    outcome: &TurnOutcome,
) -> (&'static str, Option<(&'static str, Value)>) {
    match &outcome.status {
        TurnStatus::Completed => ("completed", None),
        TurnStatus::Truncated => ("incomplete", Some(("incomplete_details", json!({"reason": "max_output_tokens"})))),
        TurnStatus::Cancelled => ("incomplete", Some(("incomplete_details", json!({"reason": "cancelled"})))),
        TurnStatus::Failed { error, .. } => {
            ("failed", Some(("error", json!({"message": state.redact(error), "type": SERVER_ERROR}))))
        }
    }
}

fn response_object(state: &SharedState, p: &Prepared, outcome: &TurnOutcome) -> Value {
    let verdict = Verdict::of(outcome);
    let text = if !outcome.text.is_empty() {
        outcome.text.clone()
    } else {
        verdict.error.clone().map(|e| state.redact(&e)).unwrap_or_else(|| "(No response generated)".into())
    };
    let (status, extra) = status_fields(state, outcome);
    let mut response = p.envelope(status);
    response["output"] = Value::Array(output_items(outcome, &text));
    response["usage"] = usage(&outcome.usage);
    if let Some((key, value)) = extra {
        response[key] = value;
    }
    response
}

/// Response ids are ours (`resp_…`); anything that could not be one is not looked up.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control) && !is_path_unsafe(id)
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("Response not found: {id}"), "response_not_found")
}

pub(crate) async fn fetch(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    if !plausible_id(&id) {
        return Err(missing(&id));
    }
    match state.backend.response(&id).await.map_err(|e| state.backend_error(e))? {
        None => Err(missing(&id)),
        Some(stored) => Ok(JsonReply::ok(stored.get("response").cloned().unwrap_or(stored))),
    }
}

pub(crate) async fn remove(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    if !plausible_id(&id) || !state.backend.delete_response(&id).await.map_err(|e| state.backend_error(e))? {
        return Err(missing(&id));
    }
    Ok(JsonReply::ok(json!({"id": id, "object": "response", "deleted": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn input_forms() {
        let r = parse(&body(json!({"input": "hi"}))).unwrap();
        assert_eq!((r.input.as_str(), r.input_history.len(), r.store, r.stream), ("hi", 0, true, false));
        let r = parse(&body(json!({
            "input": ["a", {"role": "assistant", "content": [{"type": "output_text", "text": "b"}]}, {"content": "c"}],
            "store": "false", "truncation": "auto"
        })))
        .unwrap();
        assert_eq!(r.input, "c");
        assert_eq!(r.input_history, vec![Message::user("a"), Message::assistant("b")]);
        assert!(!r.store && r.truncate);
    }

    #[test]
    fn bad_requests() {
        for (b, code) in [
            (json!({}), "missing_input"),
            (json!({"input": 5}), "invalid_input"),
            (json!({"input": ""}), "missing_user_message"),
            (json!({"input": "x", "conversation": "c", "previous_response_id": "resp_1"}), "conflicting_parameters"),
            (json!({"input": "x", "conversation_history": "nope"}), "invalid_conversation_history"),
            (json!({"input": "x", "conversation_history": [{"role": "user"}]}), "invalid_conversation_history"),
            (
                json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x"}]}]}),
                "unsupported_content_type",
            ),
            (json!({"input": "x", "instructions": 3}), "invalid_type"),
        ] {
            assert_eq!(parse(&body(b.clone())).unwrap_err().code, Some(code), "{b}");
        }
    }
}
