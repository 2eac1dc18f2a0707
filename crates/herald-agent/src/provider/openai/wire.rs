//! The OpenAI chat-completions wire format: the request body, the non-streamed
//! response, and the pieces the stream decoder shares with it.
//!
//! Every response field is optional and unknown fields are ignored: the same code
//! reads OpenAI, OpenRouter, Ollama, vLLM, llama.cpp and LM Studio, which each leave
//! out or add different things.

use herald_core::{FinishReason, Message, Role, ToolCall, Usage};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{KEY_HINT, PROVIDER};
use crate::provider::errors::{error_from_envelope, quote};
use crate::provider::http::{f32_to_json, lenient_u64};
use crate::provider::{ChatRequest, Completion, ProviderError};

/// The JSON body of a chat-completions call.
///
/// System blocks become one leading `system` message joined with blank lines: the
/// format has no cache markers, so the blocks need not stay apart. A `Role::System`
/// message inside the conversation (not expected, see [`ChatRequest::messages`]) is
/// sent where it stands.
pub fn build_request(request: &ChatRequest, stream: bool) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    let system: Vec<&str> = request.system.iter().map(|b| b.text.as_str()).filter(|t| !t.is_empty()).collect();
    if !system.is_empty() {
        messages.push(json!({ "role": "system", "content": system.join("\n\n") }));
    }
    messages.extend(request.messages.iter().map(message_json));

    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
    });
    if let Some(t) = request.temperature {
        body["temperature"] = f32_to_json(t);
    }
    // The documented values are exactly herald's level names (none, minimal, low,
    // medium, high, xhigh), so the level goes out as typed. Not every model takes
    // every level (only newer ones take `none` or `xhigh`); the server's refusal
    // names the problem better than a guess here would.
    if let Some(effort) = request.reasoning {
        body["reasoning_effort"] = json!(effort.as_str());
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": { "name": t.name, "description": t.description, "parameters": t.parameters },
                })
            })
            .collect();
    }
    if stream {
        body["stream"] = json!(true);
        // Without this the stream carries no token counts at all.
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

fn message_json(m: &Message) -> Value {
    match m.role {
        Role::System | Role::User => json!({ "role": m.role.as_str(), "content": m.content }),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({ "role": "assistant", "content": m.content })
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments },
                    })
                })
                .collect();
            // The reference says content may be null when tool calls are given; an
            // empty string is rejected by some compatible servers.
            let content = if m.content.is_empty() { Value::Null } else { json!(m.content) };
            json!({ "role": "assistant", "content": content, "tool_calls": calls })
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

/// `usage` of a response or of the last stream chunk.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default, deserialize_with = "lenient_u64")]
    prompt_tokens: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default, deserialize_with = "lenient_u64")]
    cached_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default, deserialize_with = "lenient_u64")]
    reasoning_tokens: u64,
}

impl WireUsage {
    /// `prompt_tokens` already includes the cached ones, which is herald's meaning of
    /// `input_tokens`; OpenAI reports no cache writes.
    pub(super) fn to_usage(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cache_read_tokens: self.prompt_tokens_details.as_ref().map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: self.completion_tokens_details.as_ref().map_or(0, |d| d.reasoning_tokens),
        }
    }
}

/// Text from a field that is a string on OpenAI and, on some compatible servers, an
/// array of `{"type": "text", "text": ...}` parts.
pub(super) fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let text: String = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
            Some(text)
        }
        _ => None,
    }
}

/// Tool-call arguments: a JSON string on OpenAI; some servers send the object itself.
pub(super) fn arguments_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A tool call being assembled, from a whole response or from stream fragments.
#[derive(Debug, Default, Clone)]
pub(super) struct PartialCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Finishes assembled calls. A call without a name cannot be run or answered, so it
/// makes the response malformed. Missing ids (some local servers send none) are
/// made up so the result can be matched to its call; empty arguments become `{}`, the
/// arguments of a tool that takes none.
pub(super) fn finish_calls(calls: Vec<PartialCall>) -> Result<Vec<ToolCall>, ProviderError> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if c.name.is_empty() {
                return Err(ProviderError::Malformed {
                    provider: PROVIDER,
                    detail: format!("tool call #{} (id `{}`) has no function name", i + 1, c.id),
                });
            }
            Ok(ToolCall {
                id: if c.id.is_empty() { synthetic_id(i) } else { c.id },
                name: c.name,
                arguments: if c.arguments.trim().is_empty() { "{}".to_owned() } else { c.arguments },
            })
        })
        .collect()
}

pub(super) fn synthetic_id(position: usize) -> String {
    format!("call_herald_{position}")
}

/// The finish reason as reported, except that a server saying `stop` (some local
/// ones do) while asking for tools is read as `tool_calls`, and a missing one is
/// inferred. The turn loop acts on this value.
pub(super) fn finish_reason(reported: Option<&str>, has_calls: bool) -> FinishReason {
    match reported.filter(|r| !r.is_empty()).map(FinishReason::from_wire) {
        Some(FinishReason::Stop) | None if has_calls => FinishReason::ToolCalls,
        Some(reason) => reason,
        None => FinishReason::Stop,
    }
}

#[derive(Debug, Deserialize)]
struct Response {
    model: Option<String>,
    choices: Option<Vec<Choice>>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    index: Option<i64>,
    message: Option<ResponseMessage>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ResponseMessage {
    content: Option<Value>,
    reasoning_content: Option<Value>,
    reasoning: Option<Value>,
    refusal: Option<Value>,
    tool_calls: Option<Vec<ResponseToolCall>>,
}

#[derive(Debug, Deserialize)]
struct ResponseToolCall {
    id: Option<String>,
    function: Option<ResponseFunction>,
}

#[derive(Debug, Deserialize)]
struct ResponseFunction {
    name: Option<String>,
    arguments: Option<Value>,
}

/// Reads a whole (non-streamed) chat-completions response.
pub fn parse_response(body: &[u8]) -> Result<Completion, ProviderError> {
    let response: Response = serde_json::from_slice(body).map_err(|e| ProviderError::Malformed {
        provider: PROVIDER,
        detail: format!("the response is not a chat completion ({e}): {}", quote(body)),
    })?;
    if let Some(error) = response.error.as_ref().filter(|e| !e.is_null()) {
        return Err(error_from_envelope(PROVIDER, KEY_HINT, error));
    }
    let mut choices = response.choices.unwrap_or_default();
    // With `n` > 1 the first choice is the answer; `index` need not be in order.
    let position = choices.iter().position(|c| c.index.unwrap_or(0) == 0).unwrap_or(0);
    if choices.is_empty() {
        return Err(ProviderError::Malformed { provider: PROVIDER, detail: "the response has no choices".into() });
    }
    let choice = choices.swap_remove(position);
    let message = choice.message.ok_or_else(|| ProviderError::Malformed {
        provider: PROVIDER,
        detail: "the first choice has no message".into(),
    })?;
    let mut content = text_of(message.content.as_ref()).unwrap_or_default();
    if content.is_empty() {
        // A refusal is the model's answer; the user should see it.
        content = text_of(message.refusal.as_ref()).unwrap_or_default();
    }
    let reasoning = text_of(message.reasoning_content.as_ref())
        .or_else(|| text_of(message.reasoning.as_ref()))
        .filter(|r| !r.is_empty());
    let calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let function = c.function.unwrap_or(ResponseFunction { name: None, arguments: None });
            PartialCall {
                id: c.id.unwrap_or_default(),
                name: function.name.unwrap_or_default(),
                arguments: arguments_text(function.arguments.as_ref()),
            }
        })
        .collect();
    let tool_calls = finish_calls(calls)?;
    Ok(Completion {
        content,
        reasoning,
        finish_reason: finish_reason(choice.finish_reason.as_deref(), !tool_calls.is_empty()),
        tool_calls,
        usage: response.usage.map(|u| u.to_usage()).unwrap_or_default(),
        model: response.model,
        thinking: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{SystemBlock, ToolSpec};

    fn request() -> ChatRequest {
        let call =
            ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"city":"Paris"}"#.into() };
        ChatRequest {
            model: "gpt-4.1-mini".into(),
            system: vec![
                SystemBlock { text: "You are herald.".into(), cache: true },
                SystemBlock { text: String::new(), cache: false },
                SystemBlock { text: "Today is Monday.".into(), cache: false },
            ],
            messages: vec![
                Message::user("Weather in Paris?"),
                Message { tool_calls: vec![call.clone()], ..Message::assistant("") },
                Message::tool_result(&call, "18C, cloudy"),
                Message::assistant("It is 18C and cloudy."),
            ],
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "Current weather".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            }],
            max_tokens: 1024,
            temperature: Some(0.2),
            reasoning: None,
            thinking: vec![],
        }
    }

    #[test]
    fn request_body_exact_shape() {
        let expected = json!({
            "model": "gpt-4.1-mini",
            "max_tokens": 1024,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "You are herald.\n\nToday is Monday."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
                {"role": "assistant", "content": "It is 18C and cloudy."},
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }}],
        });
        assert_eq!(build_request(&request(), false), expected);
    }

    #[test]
    fn streaming_asks_for_usage() {
        let body = build_request(&request(), true);
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn minimal_request_has_no_optional_fields() {
        let req = ChatRequest {
            model: "llama3".into(),
            system: vec![],
            messages: vec![Message::user("hi")],
            tools: vec![],
            max_tokens: 16,
            temperature: None,
            reasoning: None,
            thinking: vec![],
        };
        assert_eq!(
            build_request(&req, false),
            json!({"model": "llama3", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn reasoning_effort_is_sent_as_its_level() {
        for effort in crate::provider::ReasoningEffort::ALL {
            let body = build_request(&ChatRequest { reasoning: Some(effort), ..request() }, false);
            assert_eq!(body["reasoning_effort"], json!(effort.as_str()), "{effort}");
            // Nothing else changes: temperature and max_tokens stay as asked.
            assert_eq!(body["temperature"], json!(0.2));
            assert_eq!(body["max_tokens"], json!(1024));
        }
        assert_eq!(
            build_request(&ChatRequest { reasoning: Some(crate::provider::ReasoningEffort::XHigh), ..request() }, true)
                ["reasoning_effort"],
            json!("xhigh")
        );
        assert!(build_request(&request(), false).get("reasoning_effort").is_none());
        // Anthropic's thinking replay has no place in this format.
        let replay = crate::provider::ThinkingReplay {
            message: 2,
            blocks: vec![crate::provider::ThinkingBlock::Redacted { data: "x".into() }],
        };
        assert_eq!(
            build_request(&ChatRequest { thinking: vec![replay], ..request() }, false),
            build_request(&request(), false)
        );
    }

    #[test]
    fn parses_the_documented_tool_call_response() {
        let body = r#"{
          "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1699896916,
          "model": "gpt-4o-mini-2024-07-18",
          "choices": [{
            "index": 0,
            "message": {
              "role": "assistant", "content": null, "refusal": null, "annotations": [],
              "tool_calls": [{"id": "call_abc123", "type": "function",
                "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}}]
            },
            "logprobs": null, "finish_reason": "tool_calls"
          }],
          "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
            "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 0}},
          "system_fingerprint": "fp_123"
        }"#;
        let c = parse_response(body.as_bytes()).unwrap();
        assert_eq!(c.content, "");
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        assert_eq!(c.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(
            c.tool_calls,
            vec![ToolCall {
                id: "call_abc123".into(),
                name: "get_current_weather".into(),
                arguments: "{\n\"location\": \"Boston, MA\"\n}".into(),
            }]
        );
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 82,
                output_tokens: 17,
                cache_read_tokens: 64,
                cache_write_tokens: 0,
                reasoning_tokens: 5
            }
        );
    }

    #[test]
    fn parses_text_with_reasoning_from_a_local_server() {
        let body = r#"{"choices":[{"message":{"content":"4","reasoning_content":"2+2"},"finish_reason":"stop"}],
                       "usage":{"prompt_tokens":3.0,"completion_tokens":null}}"#;
        let c = parse_response(body.as_bytes()).unwrap();
        assert_eq!((c.content.as_str(), c.reasoning.as_deref()), ("4", Some("2+2")));
        assert_eq!(c.usage.input_tokens, 3);
        assert_eq!(c.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn odd_but_readable_responses() {
        // Content as parts, arguments as an object, no id, `stop` with a call.
        let body = r#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
            "tool_calls":[{"function":{"name":"f","arguments":{"x":1}}}]},"finish_reason":"stop"}]}"#;
        let c = parse_response(body.as_bytes()).unwrap();
        assert_eq!(c.content, "ab");
        assert_eq!(c.tool_calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(c.tool_calls[0].id, "call_herald_0");
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        let refusal = r#"{"choices":[{"message":{"content":null,"refusal":"I can't help with that."}}]}"#;
        assert_eq!(parse_response(refusal.as_bytes()).unwrap().content, "I can't help with that.");
    }

    #[test]
    fn unreadable_responses_are_malformed() {
        for body in ["", "<html>", "[]", r#"{"choices":[]}"#, r#"{"choices":[{"index":0}]}"#, r#"{"choices":"x"}"#] {
            assert!(matches!(parse_response(body.as_bytes()), Err(ProviderError::Malformed { .. })), "{body}");
        }
        let nameless = r#"{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}}]}"#;
        assert!(matches!(parse_response(nameless.as_bytes()), Err(ProviderError::Malformed { .. })));
    }

    #[test]
    fn error_envelope_in_a_200_body() {
        let body = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert!(matches!(parse_response(body.as_bytes()), Err(ProviderError::RateLimited { .. })));
    }
}
