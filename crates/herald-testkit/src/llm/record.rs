//! What the server saw: recorded model requests and helpers to read them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which wire format a request used, decided by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// `POST /v1/chat/completions` (also `/chat/completions`).
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// One model request as the server received it.
///
/// Requests answered with a 400 are recorded too, since a test usually wants to
/// see what the client sent wrong; a body that is not JSON is recorded as a JSON
/// string holding its text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub wire: Wire,
    /// Header names are lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Whether the body asked for a stream (`"stream": true`).
    pub stream: bool,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The requested model, if the body named one.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// The `messages` array, or an empty slice.
    pub fn messages(&self) -> &[Value] {
        self.body.get("messages").and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// The text of the last user message that has text, on either wire.
    ///
    /// Content may be a string or a list of parts; text parts are joined with
    /// newlines. User messages with no text (an Anthropic `tool_result` turn) are
    /// skipped, so this is the last thing a person said.
    pub fn last_user_text(&self) -> Option<String> {
        last_user_text(self.body.get("messages")?)
    }

    /// The system prompt, joined with blank lines when it comes in parts; empty
    /// when there is none.
    ///
    /// OpenAI: every `system` or `developer` message. Anthropic: the top-level
    /// `system` field, a string or a list of text blocks.
    pub fn system_text(&self) -> String {
        match self.wire {
            Wire::OpenAi => {
                let parts: Vec<String> = self
                    .messages()
                    .iter()
                    .filter(|m| matches!(role(m), Some("system" | "developer")))
                    .filter_map(|m| content_text(m.get("content")?))
                    .collect();
                parts.join("\n\n")
            }
            Wire::Anthropic => match self.body.get("system") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(blocks)) => text_parts(blocks).join("\n\n"),
                _ => String::new(),
            },
        }
    }
}

/// See [`RecordedRequest::last_user_text`]; shared with `Reply::Echo`.
pub(crate) fn last_user_text(messages: &Value) -> Option<String> {
    messages.as_array()?.iter().rev().filter(|m| role(m) == Some("user")).find_map(|m| content_text(m.get("content")?))
}

fn role(message: &Value) -> Option<&str> {
    message.get("role").and_then(Value::as_str)
}

/// A message's text: the string itself, or its text parts joined by newlines;
/// `None` when it has no text part.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts = text_parts(parts);
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// The `text` of every `{"type": "text", "text": ...}` part; both wires use that shape.
fn text_parts(parts: &[Value]) -> Vec<&str> {
    parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(wire: Wire, body: Value) -> RecordedRequest {
        RecordedRequest { wire, headers: vec![("x-api-key".into(), "k".into())], body, stream: false }
    }

    #[test]
    fn openai_texts() {
        let r = request(
            Wire::OpenAi,
            json!({"messages": [
                {"role": "system", "content": "You are herald."},
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": null, "tool_calls": []},
                {"role": "tool", "tool_call_id": "call_1", "content": "result"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]},
            ]}),
        );
        assert_eq!(r.system_text(), "You are herald.\n\nBe brief.");
        assert_eq!(r.last_user_text().as_deref(), Some("a\nb"));
        assert_eq!(r.header("X-API-Key"), Some("k"));
    }

    #[test]
    fn anthropic_texts_skip_tool_results() {
        let r = request(
            Wire::Anthropic,
            json!({
                "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
                "messages": [
                    {"role": "user", "content": "what is the weather"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
                ]
            }),
        );
        assert_eq!(r.system_text(), "one\n\ntwo");
        assert_eq!(r.last_user_text().as_deref(), Some("what is the weather"));
    }

    #[test]
    fn missing_parts() {
        let r = request(Wire::Anthropic, json!({"system": "s"}));
        assert_eq!(r.system_text(), "s");
        assert_eq!(r.last_user_text(), None);
        assert!(r.messages().is_empty());
        assert_eq!(request(Wire::OpenAi, json!("x")).system_text(), "");
    }
}
