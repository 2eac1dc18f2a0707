//! `POST /v1/chat/completions` (Hermes §2.4).
//!
//! System messages become this turn's ephemeral system text; user and assistant messages
//! are the history; the last of them is the input. With `X-Hermes-Session-Id` the stored
//! transcript is used instead of the sent history; without it the session is derived
//! from the system prompt and the first user message, so a frontend that resends the
//! whole conversation keeps landing in the same session.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use herald_core::Message;
use herald_core::backend::{History, TurnOutcome, TurnRequest};
use serde_json::{Map, Value, json};

use crate::body::{opt_string, read_object};
use crate::chat_stream;
use crate::content::{coerce_bool, flatten_text, has_visible_text, normalize_content};
use crate::errors::{ApiError, ApiResult, JsonReply};
use crate::headers::{idempotency_key_header, session_headers, session_id_header, session_key_header};
use crate::idempotency::{Scope, fingerprint};
use crate::ids::{completion_id, derive_chat_session_id, unix_secs};
use crate::outcome::{chat_usage, render_outcome};
use crate::state::SharedState;
use crate::turn::spawn_turn;

/// A parsed chat-completions request.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    pub system: Option<String>,
    pub history: Vec<Message>,
    pub input: String,
    pub first_user: String,
    pub model: Option<String>,
    pub stream: bool,
}

pub(crate) fn parse(body: &Map<String, Value>) -> Result<ChatRequest, ApiError> {
    let messages = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => {
            return Err(ApiError::bad_request("Missing or invalid 'messages' field")
                .param("messages")
                .code("invalid_messages"));
        }
    };
    let mut system: Option<String> = None;
    let mut conversation: Vec<Message> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let Some(msg) = msg.as_object() else {
            return Err(ApiError::bad_request(format!("messages[{i}] must be an object"))
                .param(format!("messages[{i}]"))
                .code("invalid_messages"));
        };
        let content = msg.get("content").unwrap_or(&Value::Null);
        match msg.get("role").and_then(Value::as_str).unwrap_or("") {
            // `developer` is OpenAI's newer name for system instructions; Hermes drops it.
            "system" | "developer" => {
                let text = flatten_text(content);
                system = Some(match system {
                    None => text,
                    Some(s) => format!("{s}\n{text}"),
                });
            }
            role @ ("user" | "assistant") => {
                let text = normalize_content(content, &format!("messages[{i}].content"))?;
                conversation.push(if role == "user" { Message::user(text) } else { Message::assistant(text) });
            }
            // Tool results and unknown roles carry nothing the agent can use here.
            _ => {}
        }
    }
    let first_user =
        conversation.iter().find(|m| m.role == herald_core::Role::User).map(|m| m.content.clone()).unwrap_or_default();
    let input = conversation.pop().map(|m| m.content).unwrap_or_default();
    if !has_visible_text(&input) {
        return Err(ApiError::bad_request("No user message found in messages")
            .param("messages")
            .code("missing_user_message"));
    }
    Ok(ChatRequest {
        system,
        history: conversation,
        input,
        first_user,
        model: opt_string(body, "model")?,
        stream: coerce_bool(body.get("stream"), false),
    })
}

/// Identifiers of one completion, shared by its chunks.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub id: String,
    pub model: String,
    pub created: u64,
    pub session_key: Option<String>,
}

pub(crate) async fn chat_completions(State(state): State<SharedState>, headers: HeaderMap, body: Body) -> Response {
    match handle(state, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: SharedState, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let permit = state.turns.admit()?;
    let body = read_object(body, false).await?;
    let req = parse(&body)?;
    let session_key = session_key_header(&headers)?;
    let header_session = session_id_header(&headers)?;
    let idempotency_key = if req.stream { None } else { idempotency_key_header(&headers)? };
    let (session_id, history) = match header_session.clone() {
        Some(id) => (id, History::Stored),
        None => (derive_chat_session_id(req.system.as_deref(), &req.first_user), History::Provided(req.history)),
    };
    let completion = Completion {
        id: completion_id(),
        model: req.model.clone().unwrap_or_else(|| state.backend.model_name()),
        created: unix_secs(),
        session_key: session_key.clone(),
    };
    let turn = TurnRequest {
        session_id: session_id.clone(),
        session_key,
        history,
        input: req.input,
        ephemeral_system: req.system,
        model: req.model,
        title: None,
    };
    tracing::debug!(session = %session_id, stream = req.stream, "chat completion");
    if req.stream {
        let handle = spawn_turn(state.backend.clone(), &state.turns, permit, turn);
        return Ok(chat_stream::respond(state, handle, completion, &session_id));
    }
    let Some(key) = idempotency_key else {
        let handle = spawn_turn(state.backend.clone(), &state.turns, permit, turn);
        return Ok(complete(state, handle, completion).await.into_response());
    };
    let fp = fingerprint(
        &body,
        &["model", "messages", "tools", "tool_choice", "stream"],
        &[
            ("X-Hermes-Session-Id", header_session.as_deref()),
            ("X-Hermes-Session-Key", completion.session_key.as_deref()),
        ],
    );
    // Started only if no reply is stored for this key and request. The cache runs it in
    // its own task, so it finishes even if this client disconnects.
    let st = state.clone();
    let compute = async move {
        let handle = spawn_turn(st.backend.clone(), &st.turns, permit, turn);
        complete(st, handle, completion).await
    };
    Ok(state.idempotency.run(Scope::ChatCompletions, key, fp, compute).await.into_response())
}

async fn complete(state: SharedState, handle: crate::turn::TurnHandle, completion: Completion) -> ApiResult {
    match handle.finish().await {
        Ok(outcome) => Ok(render(&state, &outcome, &completion)),
        Err(e) => {
            tracing::error!(error = %state.redact(&e.to_string()), "chat completion failed");
            Err(state.backend_error(e))
        }
    }
}

/// The non-streaming reply for an outcome (Hermes's shape, markers and 502 rule).
pub(crate) fn render(state: &SharedState, outcome: &TurnOutcome, c: &Completion) -> JsonReply {
    render_outcome(state, outcome, session_headers(&outcome.session_id, c.session_key.as_deref()), |verdict| {
        json!({
            "id": c.id,
            "object": "chat.completion",
            "created": c.created,
            "model": c.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": outcome.text},
                "finish_reason": verdict.finish_reason,
            }],
            "usage": chat_usage(&outcome.usage),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn messages_are_split_into_system_history_and_input() {
        let req = parse(&body(json!({
            "model": "m",
            "stream": "true",
            "messages": [
                {"role": "system", "content": "A"},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "reply"}]},
                {"role": "tool", "content": "ignored", "tool_call_id": "x"},
                {"role": "developer", "content": [{"type": "text", "text": "B"}]},
                {"role": "user", "content": [{"type": "input_text", "text": "second"}]}
            ]
        })))
        .unwrap();
        assert_eq!(req.system.as_deref(), Some("A\nB"));
        assert_eq!(req.history, vec![Message::user("first"), Message::assistant("reply")]);
        assert_eq!(req.input, "second");
        assert_eq!(req.first_user, "first");
        assert!(req.stream);
        assert_eq!(req.model.as_deref(), Some("m"));
    }

    #[test]
    fn bad_messages_are_refused() {
        for (b, code) in [
            (json!({}), "invalid_messages"),
            (json!({"messages": []}), "invalid_messages"),
            (json!({"messages": "hi"}), "invalid_messages"),
            (json!({"messages": [3]}), "invalid_messages"),
            (json!({"messages": [{"role": "system", "content": "x"}]}), "missing_user_message"),
            (json!({"messages": [{"role": "user", "content": "   "}]}), "missing_user_message"),
            (json!({"messages": [{"role": "user", "content": "x"}], "model": 3}), "invalid_type"),
        ] {
            assert_eq!(parse(&body(b.clone())).unwrap_err().code, Some(code), "{b}");
        }
    }
}
