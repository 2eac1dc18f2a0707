//! Streaming `/v1/responses`: OpenAI Responses events, each with a rising
//! `sequence_number`: `response.created`, the message item and its text deltas, a
//! `function_call` and `function_call_output` item per tool call, `output_text.done`,
//! the message's `output_item.done`, then `response.completed` or `response.failed`.
//!
//! With `store`, an `in_progress` snapshot is saved when the stream starts and an
//! `incomplete` one if the client leaves before the end, so the chain can continue.

use bytes::Bytes;
use herald_core::backend::{TurnEvent, TurnOutcome};
use herald_core::{Message, Usage};
use serde_json::{Value, json};

use crate::errors::SERVER_ERROR;
use crate::headers::session_headers;
use crate::ids::prefixed;
use crate::outcome::{turn_messages, usage};
use crate::responses::{Prepared, final_message, status_fields};
use crate::sse::{self, FrameSource, KEEPALIVE};
use crate::state::SharedState;
use crate::turn::{Step, TurnHandle, TurnResult};

pub(crate) fn respond(state: SharedState, handle: TurnHandle, prepared: Prepared) -> axum::response::Response {
    let headers = session_headers(&prepared.session_id, prepared.session_key.as_deref());
    let stream = ResponsesStream {
        state,
        handle,
        message_id: prefixed("msg_", 24),
        p: prepared,
        seq: 0,
        phase: Phase::Start,
        text: String::new(),
        message_index: None,
        next_index: 0,
        calls: 0,
        pending: Vec::new(),
        items: Vec::new(),
    };
    sse::response(stream, headers)
}

#[derive(PartialEq)]
enum Phase {
    Start,
    Running,
    /// The terminal event was sent and the snapshot saved.
    Done,
}

struct PendingCall {
    call_id: String,
    name: String,
    arguments: String,
    item_id: String,
    index: usize,
}

struct ResponsesStream {
    state: SharedState,
    handle: TurnHandle,
    p: Prepared,
    seq: u64,
    phase: Phase,
    message_id: String,
    text: String,
    message_index: Option<usize>,
    next_index: usize,
    calls: usize,
    pending: Vec<PendingCall>,
    /// Tool items so far, in the terminal payload's shape.
    items: Vec<Value>,
}

impl ResponsesStream {
    fn emit(&mut self, kind: &str, mut data: Value) -> Bytes {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        sse::event(kind, &data)
    }

    fn take_index(&mut self) -> usize {
        self.next_index += 1;
        self.next_index - 1
    }

    fn text_delta(&mut self, delta: &str, out: &mut Vec<Bytes>) {
        let index = match self.message_index {
            Some(i) => i,
            None => {
                let i = self.take_index();
                self.message_index = Some(i);
                let item = json!({"id": self.message_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
                out.push(self.emit("response.output_item.added", json!({"output_index": i, "item": item})));
                i
            }
        };
        self.text.push_str(delta);
        let data = json!({"item_id": self.message_id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": []});
        out.push(self.emit("response.output_text.delta", data));
    }

    fn tool_started(&mut self, id: String, name: String, arguments: String) -> Bytes {
        self.calls += 1;
        let call_id = if id.is_empty() { format!("call_{}_{}", &self.p.id[5..], self.calls) } else { id };
        let index = self.take_index();
        let item_id = prefixed("fc_", 24);
        let item = json!({"id": item_id, "type": "function_call", "status": "in_progress", "name": name, "call_id": call_id, "arguments": arguments});
        self.items.push(json!({"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id}));
        self.pending.push(PendingCall { call_id, name, arguments, item_id, index });
        self.emit("response.output_item.added", json!({"output_index": index, "item": item}))
    }

    fn tool_completed(&mut self, id: &str, result: String, out: &mut Vec<Bytes>) {
        // A completion without a matching start is dropped rather than sent as an orphan.
        let Some(at) = self.pending.iter().position(|p| !id.is_empty() && p.call_id == id) else { return };
        let call = self.pending.remove(at);
        let done = json!({"id": call.item_id, "type": "function_call", "status": "completed", "name": call.name, "call_id": call.call_id, "arguments": call.arguments});
        out.push(self.emit("response.output_item.done", json!({"output_index": call.index, "item": done})));
        let output = json!([{"type": "input_text", "text": result}]);
        let index = self.take_index();
        let item = json!({"id": prefixed("fco_", 24), "type": "function_call_output", "call_id": call.call_id, "output": output, "status": "completed"});
        self.items.push(json!({"type": "function_call_output", "call_id": call.call_id, "output": output}));
        out.push(self.emit("response.output_item.added", json!({"output_index": index, "item": item})));
        out.push(self.emit("response.output_item.done", json!({"output_index": index, "item": item})));
    }

    /// The frames that end the stream, after saving the terminal snapshot.
    async fn finish(&mut self, result: TurnResult) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Ok(outcome) = &result
            && self.text.is_empty()
            && !outcome.text.is_empty()
        {
            // Some providers deliver the answer only at the end; clients still get a delta.
            self.text_delta(&outcome.text.clone(), &mut out);
        }
        if let Some(index) = self.message_index {
            let text = self.text.clone();
            let done = json!({"item_id": self.message_id, "output_index": index, "content_index": 0, "text": text, "logprobs": []});
            out.push(self.emit("response.output_text.done", done));
            let item = json!({"id": self.message_id, "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": text}]});
            out.push(self.emit("response.output_item.done", json!({"output_index": index, "item": item})));
        }
        let (kind, response, transcript) = match &result {
            Ok(outcome) => self.terminal(outcome),
            Err(e) => {
                tracing::error!(error = %self.state.redact(&e.to_string()), "streaming response failed");
                let message = self.state.redact(&e.to_string());
                let mut response = self.p.envelope("failed");
                response["output"] = Value::Array(self.final_items(&message));
                response["error"] = json!({"message": message, "type": SERVER_ERROR});
                response["usage"] = usage(&Usage::default());
                let transcript = self.p.transcript(vec![Message::assistant(message)]);
                ("response.failed", response, transcript)
            }
        };
        self.p.save(&self.state, response.clone(), transcript).await;
        self.phase = Phase::Done;
        out.push(self.emit(kind, json!({"response": response})));
        out
    }

    fn terminal(&self, outcome: &TurnOutcome) -> (&'static str, Value, Value) {
        let (status, extra) = status_fields(&self.state, outcome);
        let failed = status == "failed";
        let error_text = extra.as_ref().and_then(|(_, v)| v.get("message")).and_then(Value::as_str).unwrap_or("");
        let shown = if self.text.is_empty() && failed { error_text.to_string() } else { self.text.clone() };
        let mut response = self.p.envelope(status);
        response["output"] = Value::Array(self.final_items(&shown));
        response["usage"] = usage(&outcome.usage);
        if let Some((key, value)) = &extra {
            response[*key] = value.clone();
        }
        let transcript = if failed {
            self.p.transcript(vec![Message::assistant(shown)])
        } else {
            self.p.transcript(turn_messages(outcome))
        };
        (if failed { "response.failed" } else { "response.completed" }, response, transcript)
    }

    /// Tool items (long arguments and outputs trimmed, as Hermes does to keep the
    /// terminal event small; the deltas carried them whole) and the final message.
    fn final_items(&self, text: &str) -> Vec<Value> {
        let mut items: Vec<Value> = self.items.iter().map(trim_item).collect();
        items.push(final_message(text));
        items
    }

    /// What to save if the client leaves mid-stream.
    fn incomplete_snapshot(&self) -> (Value, Value) {
        let mut items = self.items.clone();
        let mut turn = Vec::new();
        if !self.text.is_empty() {
            items.push(final_message(&self.text));
            turn.push(Message::assistant(self.text.clone()));
        }
        let mut response = self.p.envelope("incomplete");
        response["output"] = Value::Array(items);
        response["usage"] = usage(&Usage::default());
        (response, self.p.transcript(turn))
    }
}

fn trim_item(item: &Value) -> Value {
    let mut item = item.clone();
    match item.get("type").and_then(Value::as_str) {
        Some("function_call") => {
            let args =
                item.get("arguments").and_then(Value::as_str).and_then(|a| serde_json::from_str::<Value>(a).ok());
            if let Some(Value::Object(mut args)) = args {
                for key in ["content", "query", "pattern", "old_string", "new_string"] {
                    if let Some(Value::String(s)) = args.get(key)
                        && s.chars().count() > 500
                    {
                        let note = format!("[{} chars — truncated for response.completed]", s.chars().count());
                        args.insert(key.into(), Value::String(note));
                    }
                }
                item["arguments"] = json!(Value::Object(args).to_string());
            }
        }
        Some("function_call_output") => {
            if let Some(text) = item["output"][0]["text"].as_str().map(str::to_string)
                && text.chars().count() > 1000
            {
                let head: String = text.chars().take(500).collect();
                item["output"][0]["text"] = json!(format!("{head}...[{} more chars]", text.chars().count() - 500));
            }
        }
        _ => {}
    }
    item
}

impl FrameSource for ResponsesStream {
    async fn next_frames(&mut self) -> Option<Vec<Bytes>> {
        match self.phase {
            Phase::Done => return None,
            Phase::Start => {
                self.phase = Phase::Running;
                let mut response = self.p.envelope("in_progress");
                response["output"] = json!([]);
                let frame = self.emit("response.created", json!({"response": response.clone()}));
                let transcript = self.p.transcript(Vec::new());
                self.p.save(&self.state, response, transcript).await;
                return Some(vec![frame]);
            }
            Phase::Running => {}
        }
        loop {
            let mut out = Vec::new();
            match self.handle.next(Some(KEEPALIVE)).await {
                Step::Idle => return Some(vec![sse::comment("keepalive")]),
                Step::Event(TurnEvent::TextDelta(t)) if !t.is_empty() => self.text_delta(&t, &mut out),
                Step::Event(TurnEvent::ToolStarted { id, name, arguments }) => {
                    out.push(self.tool_started(id, name, arguments))
                }
                Step::Event(TurnEvent::ToolCompleted { id, result, .. }) => self.tool_completed(&id, result, &mut out),
                Step::Event(_) => {}
                Step::Done(result) => return Some(self.finish(result).await),
            }
            if !out.is_empty() {
                return Some(out);
            }
        }
    }
}

impl Drop for ResponsesStream {
    fn drop(&mut self) {
        if self.phase != Phase::Running || !self.p.store {
            return;
        }
        // The client left mid-stream: keep what was said so the chain can continue.
        let (response, transcript) = self.incomplete_snapshot();
        let (state, p) = (self.state.clone(), self.p.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { p.save(&state, response, transcript).await });
        }
    }
}
