//! Streaming chat completions: the role chunk, content chunks, `hermes.tool.progress`
//! named events, keepalives, one final chunk with `finish_reason` and usage, `[DONE]`.

use std::collections::HashSet;

use bytes::Bytes;
use herald_core::backend::{TurnEvent, TurnOutcome};
use serde_json::{Value, json};

use crate::chat::Completion;
use crate::errors::SERVER_ERROR;
use crate::headers::session_headers;
use crate::outcome::{Verdict, chat_usage, tool_preview};
use crate::sse::{self, FrameSource, KEEPALIVE};
use crate::state::SharedState;
use crate::turn::{Step, TurnHandle, TurnResult};

pub(crate) fn respond(
    state: SharedState,
    handle: TurnHandle,
    c: Completion,
    session_id: &str,
) -> axum::response::Response {
    let headers = session_headers(session_id, c.session_key.as_deref());
    sse::response(ChatStream { state, handle, c, started: false, finished: false, tools: HashSet::new() }, headers)
}

struct ChatStream {
    state: SharedState,
    handle: TurnHandle,
    c: Completion,
    started: bool,
    finished: bool,
    /// Tool calls announced as running; a completion is sent only for these.
    tools: HashSet<String>,
}

impl ChatStream {
    fn chunk(&self, delta: Value, finish_reason: Value) -> Value {
        json!({
            "id": self.c.id,
            "object": "chat.completion.chunk",
            "created": self.c.created,
            "model": self.c.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })
    }

    fn on_event(&mut self, event: TurnEvent) -> Option<Bytes> {
        match event {
            TurnEvent::TextDelta(t) if !t.is_empty() => {
                Some(sse::data(&self.chunk(json!({"content": t}), Value::Null)))
            }
            // Internal tools (`_thinking`, …) stay off the wire, as in Hermes.
            TurnEvent::ToolStarted { id, name, arguments } if !id.is_empty() && !name.starts_with('_') => {
                self.tools.insert(id.clone());
                let progress = json!({
                    "tool": name,
                    "emoji": tool_emoji(&name),
                    "label": tool_preview(&name, &arguments),
                    "toolCallId": id,
                    "status": "running",
                });
                Some(sse::event("hermes.tool.progress", &progress))
            }
            TurnEvent::ToolCompleted { id, name, .. } if self.tools.remove(&id) => {
                let progress = json!({"tool": name, "toolCallId": id, "status": "completed"});
                Some(sse::event("hermes.tool.progress", &progress))
            }
            _ => None,
        }
    }

    fn last_chunk(&self, result: TurnResult) -> Bytes {
        let (finish, usage, problem) = match result {
            Ok(outcome) => final_fields(&self.state, &outcome),
            Err(e) => {
                tracing::error!(error = %self.state.redact(&e.to_string()), "streaming chat completion failed");
                let message = self.state.redact(&e.to_string());
                ("error", chat_usage(&Default::default()), Some((message, None)))
            }
        };
        let mut chunk = self.chunk(json!({}), json!(finish));
        chunk["usage"] = usage;
        if let Some((message, markers)) = problem {
            chunk["error"] = json!({"message": message, "type": SERVER_ERROR});
            if let Some(m) = markers {
                chunk["hermes"] = m;
            }
        }
        sse::data(&chunk)
    }
}

/// `finish_reason`, usage, and for a turn that did not finish normally the error text and
/// the Hermes markers.
fn final_fields(state: &SharedState, outcome: &TurnOutcome) -> (&'static str, Value, Option<(String, Option<Value>)>) {
    let mut verdict = Verdict::of(outcome);
    verdict.error = verdict.error.map(|e| state.redact(&e));
    let problem = (!verdict.is_stop()).then(|| (verdict.error.clone().unwrap_or_default(), Some(verdict.markers())));
    (verdict.finish_reason, chat_usage(&outcome.usage), problem)
}

impl FrameSource for ChatStream {
    async fn next_frames(&mut self) -> Option<Vec<Bytes>> {
        if self.finished {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(vec![sse::data(&self.chunk(json!({"role": "assistant"}), Value::Null))]);
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
                    return Some(vec![self.last_chunk(result), Bytes::from_static(b"data: [DONE]\n\n")]);
                }
            }
        }
    }
}

/// An emoji per well-known tool family, for frontends that show progress badges.
fn tool_emoji(name: &str) -> &'static str {
    let n = name.to_lowercase();
    if n.contains("search") {
        "🔍"
    } else if n.contains("terminal") || n.contains("shell") || n.contains("exec") {
        "💻"
    } else if n.contains("file") || n.contains("read") || n.contains("write") {
        "📄"
    } else if n.contains("web") || n.contains("browse") || n.contains("fetch") {
        "🌐"
    } else if n.contains("clock") || n.contains("time") {
        "🕒"
    } else if n.contains("memory") {
        "🧠"
    } else {
        "🔧"
    }
}
