//! `POST /api/sessions/{id}/chat` and `/chat/stream`: a turn in an existing session,
//! with the history the gateway stored for it.
//!
//! The stream uses named events (`run.started`, `message.started`, `assistant.delta`,
//! `tool.progress`, `tool.started`, `tool.completed`/`tool.failed`,
//! `assistant.completed`, `run.completed`, `error`, `done`), each carrying
//! `session_id`, `run_id`, `seq` and `ts`; `done` is always last.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_core::backend::{History, TurnEvent, TurnOutcome, TurnRequest, TurnStatus};
use serde_json::{Map, Value, json};

use crate::body::{PathParam, read_object};
use crate::content::{has_visible_text, normalize_content, truthy};
use crate::errors::{ApiError, ApiResult, JsonReply};
use crate::headers::{session_headers, session_key_header};
use crate::ids::{prefixed, run_id, unix_f64};
use crate::outcome::{Verdict, arguments_value, message_json, render_outcome, tool_preview, turn_messages, usage};
use crate::sessions::existing;
use crate::sse::{self, FrameSource, KEEPALIVE};
use crate::state::SharedState;
use crate::turn::{Step, TurnHandle, TurnResult, spawn_turn};

struct Prepared {
    session_key: Option<String>,
    input: String,
    turn: TurnRequest,
    handle: TurnHandle,
}

fn parse(body: &Map<String, Value>) -> Result<(String, Option<String>), ApiError> {
    let raw = [body.get("message"), body.get("input")].into_iter().find(|v| truthy(*v)).flatten();
    let input = normalize_content(raw.unwrap_or(&Value::Null), "message")?;
    if !has_visible_text(&input) {
        return Err(ApiError::bad_request("Missing 'message' field").param("message").code("missing_message"));
    }
    let system = match [body.get("system_message"), body.get("instructions")].into_iter().find(|v| truthy(*v)).flatten()
    {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request("system_message must be a string")
                .param("system_message")
                .code("invalid_system_message"));
        }
    };
    Ok((input, system))
}

async fn prepare(state: &SharedState, id: &str, headers: &HeaderMap, body: Body) -> ApiResult<Prepared> {
    let session_key = session_key_header(headers)?;
    let permit = state.turns.admit()?;
    existing(state, id).await?;
    let body = read_object(body, false).await?;
    let (input, system) = parse(&body)?;
    let turn = TurnRequest {
        session_id: id.to_string(),
        session_key: session_key.clone(),
        history: History::Stored,
        input: input.clone(),
        ephemeral_system: system,
        model: None,
        title: None,
    };
    let handle = spawn_turn(state.backend.clone(), &state.turns, permit, turn.clone());
    Ok(Prepared { session_key, input, turn, handle })
}

pub(crate) async fn chat(
    State(state): State<SharedState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let p = prepare(&state, &id, &headers, body).await?;
        let outcome = p.handle.finish().await.map_err(|e| state.backend_error(e))?;
        Ok::<_, ApiError>(render(&state, &outcome, p.session_key.as_deref()))
    };
    match run.await {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}

fn render(state: &SharedState, outcome: &TurnOutcome, session_key: Option<&str>) -> JsonReply {
    render_outcome(state, outcome, session_headers(&outcome.session_id, session_key), |_| {
        json!({
            "object": "hermes.session.chat.completion",
            "session_id": outcome.session_id,
            "message": {"role": "assistant", "content": outcome.text},
            "usage": usage(&outcome.usage),
        })
    })
}

pub(crate) async fn chat_stream(
    State(state): State<SharedState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let p = match prepare(&state, &id, &headers, body).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let reply_headers = session_headers(&id, p.session_key.as_deref());
    let stream = SessionStream {
        state,
        session_id: p.turn.session_id.clone(),
        run_id: run_id(),
        message_id: prefixed("msg_", 32),
        input: p.input,
        handle: p.handle,
        seq: 0,
        started: false,
        finished: false,
        tools: HashMap::new(),
    };
    sse::response(stream, reply_headers)
}

struct SessionStream {
    state: SharedState,
    session_id: String,
    run_id: String,
    message_id: String,
    input: String,
    handle: TurnHandle,
    seq: u64,
    started: bool,
    finished: bool,
    /// Preview and arguments of each running tool, repeated in its completion.
    tools: HashMap<String, (String, Value)>,
}

impl SessionStream {
    fn emit(&mut self, name: &str, mut payload: Value) -> Bytes {
        self.seq += 1;
        let fields = json!({"session_id": self.session_id, "run_id": self.run_id, "seq": self.seq, "ts": unix_f64()});
        if let (Some(p), Value::Object(f)) = (payload.as_object_mut(), fields) {
            for (k, v) in f {
                p.entry(k).or_insert(v);
            }
        }
        sse::event(name, &payload)
    }

    fn on_event(&mut self, event: TurnEvent) -> Option<Bytes> {
        let message_id = self.message_id.clone();
        match event {
            TurnEvent::TextDelta(t) if !t.is_empty() => {
                Some(self.emit("assistant.delta", json!({"message_id": message_id, "delta": t})))
            }
            TurnEvent::ReasoningDelta(t) if !t.is_empty() => Some(
                self.emit("tool.progress", json!({"message_id": message_id, "tool_name": "_thinking", "delta": t})),
            ),
            TurnEvent::ToolStarted { id, name, arguments } => {
                let preview = tool_preview(&name, &arguments);
                let args = arguments_value(&arguments);
                self.tools.insert(id.clone(), (preview.clone(), args.clone()));
                let payload = json!({"message_id": message_id, "tool_name": name, "tool_call_id": id, "preview": preview, "args": args});
                Some(self.emit("tool.started", payload))
            }
            TurnEvent::ToolCompleted { id, name, ok, .. } => {
                let (preview, args) = self.tools.remove(&id).unwrap_or((name.clone(), Value::Null));
                let payload = json!({"message_id": message_id, "tool_name": name, "tool_call_id": id, "preview": preview, "args": args});
                Some(self.emit(if ok { "tool.completed" } else { "tool.failed" }, payload))
            }
            _ => None,
        }
    }

    fn finish(&mut self, result: TurnResult) -> Vec<Bytes> {
        let message_id = self.message_id.clone();
        let mut out = Vec::new();
        match result {
            Ok(outcome) if !matches!(outcome.status, TurnStatus::Failed { .. }) => {
                let verdict = Verdict::of(&outcome);
                let interrupted = outcome.status == TurnStatus::Cancelled;
                let messages: Vec<Value> = turn_messages(&outcome).iter().map(message_json).collect();
                out.push(self.emit(
                    "assistant.completed",
                    json!({
                        "session_id": outcome.session_id,
                        "message_id": message_id,
                        "content": outcome.text,
                        "completed": verdict.completed,
                        "partial": verdict.partial,
                        "interrupted": interrupted,
                    }),
                ));
                out.push(self.emit(
                    "run.completed",
                    json!({
                        "session_id": outcome.session_id,
                        "message_id": message_id,
                        "completed": verdict.completed,
                        "messages": messages,
                        "usage": usage(&outcome.usage),
                    }),
                ));
            }
            Ok(outcome) => {
                let error = Verdict::of(&outcome).error.unwrap_or_default();
                let message = self.state.redact(&error);
                out.push(self.emit("error", json!({"message": message})));
            }
            Err(e) => {
                tracing::error!(error = %self.state.redact(&e.to_string()), "session chat stream failed");
                let message = self.state.redact(&e.to_string());
                out.push(self.emit("error", json!({"message": message})));
            }
        }
        out.push(self.emit("done", json!({})));
        out
    }
}

impl FrameSource for SessionStream {
    async fn next_frames(&mut self) -> Option<Vec<Bytes>> {
        if self.finished {
            return None;
        }
        if !self.started {
            self.started = true;
            let user = json!({"user_message": {"role": "user", "content": self.input}});
            let started = self.emit("run.started", user);
            let message = json!({"message": {"id": self.message_id, "role": "assistant"}});
            return Some(vec![started, self.emit("message.started", message)]);
        }
        loop {
            match self.handle.next(Some(KEEPALIVE)).await {
                Step::Idle => return Some(vec![sse::comment("keepalive")]),
                Step::Event(e) => {
                    if let Some(frame) = self.on_event(e) {
                        return Some(vec![frame]);
                    }
                }
                Step::Done(result) => {
                    self.finished = true;
                    return Some(self.finish(result));
                }
            }
        }
    }
}
