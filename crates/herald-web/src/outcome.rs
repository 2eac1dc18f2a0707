//! How a turn's outcome is reported: Hermes's completion markers, usage shapes, and the
//! turn's messages.

use axum::http::{HeaderName, HeaderValue};
use herald_core::backend::{TurnOutcome, TurnStatus};
use herald_core::{Message, Role, ToolCall, Usage};
use serde_json::{Value, json};

use axum::http::StatusCode;

use crate::errors::{ApiError, JsonReply, SERVER_ERROR};
use crate::headers;
use crate::state::SharedState;

/// The Hermes markers of an outcome (`hermes{completed,partial,failed,error,error_code}`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub completed: bool,
    pub partial: bool,
    pub failed: bool,
    pub error: Option<String>,
    /// OpenAI `finish_reason`: `stop`, `length` or `error`.
    pub finish_reason: &'static str,
}

pub(crate) const TRUNCATED: &str = "The response was truncated at the model's output limit.";
pub(crate) const CANCELLED: &str = "The turn was cancelled before it finished.";

impl Verdict {
    pub fn of(outcome: &TurnOutcome) -> Self {
        let has_text = !outcome.text.is_empty();
        match &outcome.status {
            TurnStatus::Completed => {
                Verdict { completed: true, partial: false, failed: false, error: None, finish_reason: "stop" }
            }
            TurnStatus::Truncated => Verdict {
                completed: false,
                partial: true,
                failed: false,
                error: Some(TRUNCATED.into()),
                finish_reason: "length",
            },
            TurnStatus::Failed { error, partial } => Verdict {
                completed: false,
                partial: *partial || has_text,
                failed: true,
                error: Some(error.clone()),
                finish_reason: "error",
            },
            TurnStatus::Cancelled => Verdict {
                completed: false,
                partial: has_text,
                failed: false,
                error: Some(CANCELLED.into()),
                finish_reason: "error",
            },
        }
    }

    pub fn is_stop(&self) -> bool {
        self.completed
    }

    pub fn error_code(&self) -> &'static str {
        if self.finish_reason == "length" { "output_truncated" } else { "agent_error" }
    }

    /// The `hermes` object added to a reply that did not finish normally.
    pub fn markers(&self) -> Value {
        json!({
            "completed": self.completed,
            "partial": self.partial,
            "failed": self.failed,
            "error": self.error,
            "error_code": self.error_code(),
        })
    }

    /// `X-Hermes-Completed/Partial/Error` for a reply that did not finish normally.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![
            (headers::COMPLETED, HeaderValue::from_static("false")),
            (headers::PARTIAL, HeaderValue::from_static(if self.partial { "true" } else { "false" })),
        ];
        if let Some(e) = &self.error {
            // Header-safe: control characters become spaces, at most 200 characters.
            let clean: String = e.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
            if let Ok(v) = HeaderValue::from_str(&clean.replace(|c: char| !c.is_ascii(), "?")) {
                out.push((headers::ERROR, v));
            }
        }
        out
    }
}

/// `{prompt_tokens, completion_tokens, total_tokens}` (chat completions).
/// A non-streaming reply for a turn, by Hermes's rules: no text from a turn that did not
/// complete is a 502 `agent_incomplete`; otherwise `body` (built from the verdict) is sent
/// with the `hermes` markers and `X-Hermes-*` headers added when the turn did not stop
/// normally. Errors are redacted of the API key first.
pub(crate) fn render_outcome(
    state: &SharedState,
    outcome: &TurnOutcome,
    mut reply_headers: Vec<(HeaderName, HeaderValue)>,
    body: impl FnOnce(&Verdict) -> Value,
) -> JsonReply {
    let mut verdict = Verdict::of(outcome);
    verdict.error = verdict.error.map(|e| state.redact(&e));
    if outcome.text.is_empty() && !verdict.completed {
        let message = verdict.error.clone().unwrap_or_else(|| "Agent run did not produce a response.".into());
        return ApiError::new(StatusCode::BAD_GATEWAY, message)
            .kind(SERVER_ERROR)
            .code("agent_incomplete")
            .extra("hermes", json!({"completed": false, "partial": verdict.partial, "failed": verdict.failed}))
            .into_reply()
            .headers(reply_headers)
            .headers(verdict.headers());
    }
    let mut body = body(&verdict);
    if !verdict.is_stop() {
        body["hermes"] = verdict.markers();
        reply_headers.extend(verdict.headers());
    }
    JsonReply::ok(body).headers(reply_headers)
}

pub(crate) fn chat_usage(u: &Usage) -> Value {
    json!({"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens, "total_tokens": u.total()})
}

/// `{input_tokens, output_tokens, total_tokens}` (responses, runs, sessions).
pub(crate) fn usage(u: &Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total()})
}

/// The turn's new messages after the user's: one assistant message carrying the tool
/// calls, their results, then the final answer.
pub(crate) fn turn_messages(outcome: &TurnOutcome) -> Vec<Message> {
    let mut out = Vec::new();
    if !outcome.tool_calls.is_empty() {
        let calls: Vec<ToolCall> = outcome.tool_calls.iter().map(|(c, _)| c.clone()).collect();
        out.push(Message { tool_calls: calls, ..Message::assistant("") });
        for (call, result) in &outcome.tool_calls {
            out.push(Message::tool_result(call, result.clone()));
        }
    }
    out.push(Message::assistant(outcome.text.clone()));
    out
}

/// Tool calls in OpenAI's shape (`[{id,type:"function",function:{name,arguments}}]`).
pub(crate) fn openai_tool_calls(calls: &[ToolCall]) -> Value {
    if calls.is_empty() {
        return Value::Null;
    }
    Value::Array(
        calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect(),
    )
}

/// A message as the session API shows one of a turn's messages.
pub(crate) fn message_json(m: &Message) -> Value {
    json!({
        "role": m.role.as_str(),
        "content": m.content,
        "tool_call_id": m.tool_call_id,
        "tool_calls": openai_tool_calls(&m.tool_calls),
        "tool_name": m.tool_name,
    })
}

/// A message from the `{role, content}` history format stored with responses (also
/// accepting herald's own serialisation with tool calls).
pub(crate) fn message_from_json(v: &Value) -> Option<Message> {
    if let Ok(m) = serde_json::from_value::<Message>(v.clone()) {
        return Some(m);
    }
    let role = Role::parse(v.get("role")?.as_str()?)?;
    let content = crate::content::flatten_text(v.get("content").unwrap_or(&Value::Null));
    Some(Message { role, content, tool_calls: Vec::new(), tool_call_id: None, tool_name: None })
}

/// A short human-readable summary of a tool call, for progress events.
pub(crate) fn tool_preview(name: &str, arguments: &str) -> String {
    const KEYS: [&str; 9] = ["command", "query", "path", "file_path", "url", "pattern", "question", "text", "name"];
    let parsed: Option<Value> = serde_json::from_str(arguments).ok();
    let found = parsed
        .as_ref()
        .and_then(|v| v.as_object())
        .and_then(|o| KEYS.iter().find_map(|k| o.get(*k).and_then(Value::as_str)).map(str::to_string));
    match found {
        Some(s) => {
            let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = one_line.chars().take(60).collect();
            if one_line.chars().count() > 60 { format!("{name}: {short}…") } else { format!("{name}: {short}") }
        }
        None => name.to_string(),
    }
}

/// The arguments JSON as a value (a string when it is not JSON).
pub(crate) fn arguments_value(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: TurnStatus, text: &str) -> TurnOutcome {
        TurnOutcome {
            session_id: "s".into(),
            text: text.into(),
            usage: Usage::default(),
            status,
            model: "m".into(),
            tool_calls: vec![],
        }
    }

    #[test]
    fn verdicts() {
        assert!(Verdict::of(&outcome(TurnStatus::Completed, "x")).is_stop());
        let t = Verdict::of(&outcome(TurnStatus::Truncated, "x"));
        assert_eq!((t.finish_reason, t.error_code(), t.partial), ("length", "output_truncated", true));
        let f = Verdict::of(&outcome(TurnStatus::Failed { error: "boom".into(), partial: false }, ""));
        assert_eq!((f.finish_reason, f.error_code(), f.failed, f.partial), ("error", "agent_error", true, false));
        let c = Verdict::of(&outcome(TurnStatus::Cancelled, "half"));
        assert_eq!((c.completed, c.partial, c.failed), (false, true, false));
    }

    #[test]
    fn error_header_is_safe() {
        let v = Verdict::of(&outcome(
            TurnStatus::Failed { error: format!("bad\r\nthing é {}", "x".repeat(300)), partial: false },
            "",
        ));
        let h = v.headers();
        let err = h.iter().find(|(n, _)| n == headers::ERROR).unwrap().1.to_str().unwrap().to_string();
        assert!(err.starts_with("bad  thing ? x"));
        assert_eq!(err.chars().count(), 200);
    }

    #[test]
    fn previews() {
        assert_eq!(tool_preview("terminal", r#"{"command":"ls   -la"}"#), "terminal: ls -la");
        assert_eq!(tool_preview("clock", "{}"), "clock");
        assert_eq!(tool_preview("clock", "not json"), "clock");
    }
}
