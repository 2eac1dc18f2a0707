//! The Anthropic Messages wire format: the request body and the non-streamed response.
//!
//! Anthropic is stricter than OpenAI about the conversation's shape: roles must
//! alternate, tool results travel as `tool_result` blocks inside a `user` message and
//! must come before any text in it, and empty text blocks are rejected. The request
//! builder produces that shape from herald's flat message list.

use herald_core::{FinishReason, Role, ToolCall, Usage};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{KEY_HINT, PROVIDER};
use crate::provider::errors::{error_from_envelope, quote};
use crate::provider::http::f32_to_json;
use crate::provider::{ChatRequest, Completion, ProviderError, ReasoningEffort, SystemBlock, ThinkingBlock};

/// The JSON body of a Messages call.
///
/// Prompt caching: `cache_control: {"type": "ephemeral"}` goes on the last system
/// block marked `cache` (the end of the stable prefix) and on the last tool, so both
/// the tool list and the stable system prompt are read from cache on the next call.
/// That is two of the four breakpoints Anthropic allows.
///
/// Tool-call arguments are stored as the text the model produced; Anthropic wants the
/// `input` object. Arguments that are not a JSON object are sent as `{}`: the request
/// must be valid to be sent at all, and the tool result that follows already tells
/// the model its arguments could not be read.
pub fn build_request(request: &ChatRequest, stream: bool) -> Value {
    let mut system = system_blocks(&request.system);
    // `Role::System` messages are not expected in the conversation; if one is there it
    // joins the system prompt, the only place Anthropic accepts system text.
    for m in request.messages.iter().filter(|m| m.role == Role::System && !is_blank(&m.content)) {
        system.push(json!({ "type": "text", "text": m.content }));
    }

    let thinking = request.reasoning.and_then(ReasoningEffort::anthropic_budget);
    // Thinking tokens count against `max_tokens`, and Anthropic rejects a budget that
    // is not below it. When the budget does not fit, the budget is added on top so the
    // answer itself keeps the room the settings give it.
    let max_tokens = match thinking {
        Some(budget) if request.max_tokens <= budget => budget.saturating_add(request.max_tokens),
        _ => request.max_tokens,
    };
    let mut body = json!({
        "model": request.model,
        "max_tokens": max_tokens,
        "messages": conversation(request),
    });
    if let Some(budget) = thinking {
        body["thinking"] = json!({ "type": "enabled", "budget_tokens": budget });
    }
    if !system.is_empty() {
        body["system"] = Value::Array(system);
    }
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
            .collect();
        if let Some(last) = tools.last_mut() {
            last["cache_control"] = ephemeral();
        }
        body["tools"] = Value::Array(tools);
    }
    // Anthropic refuses `temperature` alongside extended thinking, so with thinking
    // on the configured temperature is dropped rather than failing every call.
    if let Some(t) = request.temperature.filter(|_| thinking.is_none()) {
        body["temperature"] = f32_to_json(t);
    }
    if stream {
        body["stream"] = json!(true);
    }
    body
}

fn ephemeral() -> Value {
    json!({ "type": "ephemeral" })
}

/// Anthropic rejects text blocks that are empty or only whitespace.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

fn system_blocks(blocks: &[SystemBlock]) -> Vec<Value> {
    // The marker goes on the last block sent at or before the last `cache` block: a
    // blank block is not sent, and the prefix ending at it is the same as the prefix
    // ending at the block before it.
    let cache_end = blocks.iter().rposition(|b| b.cache);
    let marked = cache_end.and_then(|end| blocks[..=end].iter().rposition(|b| !is_blank(&b.text)));
    blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| !is_blank(&b.text))
        .map(|(i, b)| {
            let mut block = json!({ "type": "text", "text": b.text });
            if Some(i) == marked {
                block["cache_control"] = ephemeral();
            }
            block
        })
        .collect()
}

/// herald's messages as alternating Anthropic turns. An assistant message's replayed
/// thinking blocks come first in it, where Anthropic requires them.
fn conversation(request: &ChatRequest) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, m) in request.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System => continue,
            Role::User => ("user", text_block(&m.content).into_iter().collect()),
            Role::Tool => {
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
                });
                if !m.content.is_empty() {
                    block["content"] = json!(m.content);
                }
                ("user", vec![block])
            }
            Role::Assistant => {
                let mut blocks: Vec<Value> = request
                    .thinking
                    .iter()
                    .filter(|r| r.message == index)
                    .flat_map(|r| r.blocks.iter().map(thinking_block))
                    .collect();
                blocks.extend(text_block(&m.content));
                blocks.extend(m.tool_calls.iter().map(tool_use_block));
                ("assistant", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        // Same role twice in a row (a tool result then a user interjection, two user
        // messages queued while busy, ...) is one turn for Anthropic.
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                // Tool results must lead their message; a stable sort keeps each group's order.
                blocks.sort_by_key(|b| b["type"] != "tool_result");
            }
            json!({ "role": role, "content": blocks })
        })
        .collect()
}

fn thinking_block(block: &ThinkingBlock) -> Value {
    match block {
        ThinkingBlock::Thinking { thinking, signature } => {
            json!({ "type": "thinking", "thinking": thinking, "signature": signature })
        }
        ThinkingBlock::Redacted { data } => json!({ "type": "redacted_thinking", "data": data }),
    }
}

/// A `thinking` or `redacted_thinking` block of a response, kept for replay.
pub(super) fn thinking_of(block: &Value) -> Option<ThinkingBlock> {
    let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    match block.get("type").and_then(Value::as_str)? {
        "thinking" => Some(ThinkingBlock::Thinking { thinking: text("thinking"), signature: text("signature") }),
        "redacted_thinking" => Some(ThinkingBlock::Redacted { data: text("data") }),
        _ => None,
    }
}

fn text_block(text: &str) -> Option<Value> {
    (!is_blank(text)).then(|| json!({ "type": "text", "text": text }))
}

fn tool_use_block(call: &ToolCall) -> Value {
    let input = match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => Value::Object(Map::new()),
    };
    json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input })
}

/// Token counts as Anthropic reports them: `input_tokens` excludes cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RawUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl RawUsage {
    /// Overwrites the counts present in `usage`: `message_delta` repeats the totals
    /// so far and may or may not include the input side.
    pub(super) fn merge(&mut self, usage: &Value) {
        let set = |field: &mut u64, key: &str| {
            if let Some(n) = usage.get(key).and_then(Value::as_u64) {
                *field = n;
            }
        };
        set(&mut self.input, "input_tokens");
        set(&mut self.output, "output_tokens");
        set(&mut self.cache_read, "cache_read_input_tokens");
        set(&mut self.cache_write, "cache_creation_input_tokens");
    }

    /// herald counts every prompt token as input, cached or not (as OpenAI does), and
    /// the cached share separately.
    pub(super) fn to_usage(self) -> Usage {
        Usage {
            input_tokens: self.input.saturating_add(self.cache_read).saturating_add(self.cache_write),
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            reasoning_tokens: 0,
        }
    }
}

pub(super) fn synthetic_id(position: usize) -> String {
    format!("toolu_herald_{position}")
}

/// The finish reason as reported, or inferred when a server left it out.
pub(super) fn finish_reason(reported: Option<&str>, has_calls: bool) -> FinishReason {
    match reported.filter(|r| !r.is_empty()) {
        Some(reason) => FinishReason::from_wire(reason),
        None if has_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    }
}

pub(super) fn nameless_call(position: usize) -> ProviderError {
    ProviderError::Malformed { provider: PROVIDER, detail: format!("tool_use block #{} has no name", position + 1) }
}

#[derive(Debug, Deserialize)]
struct Response {
    model: Option<String>,
    content: Option<Vec<Value>>,
    stop_reason: Option<String>,
    usage: Option<Value>,
    error: Option<Value>,
}

/// Reads a whole (non-streamed) Messages response.
pub fn parse_response(body: &[u8]) -> Result<Completion, ProviderError> {
    let response: Response = serde_json::from_slice(body).map_err(|e| ProviderError::Malformed {
        provider: PROVIDER,
        detail: format!("the response is not a Messages response ({e}): {}", quote(body)),
    })?;
    if let Some(error) = response.error.as_ref().filter(|e| !e.is_null()) {
        return Err(error_from_envelope(PROVIDER, KEY_HINT, error));
    }
    let blocks = response
        .content
        .ok_or_else(|| ProviderError::Malformed { provider: PROVIDER, detail: "the response has no content".into() })?;
    let (mut content, mut reasoning, mut tool_calls) = (String::new(), String::new(), Vec::new());
    let mut thinking = Vec::new();
    for block in &blocks {
        thinking.extend(thinking_of(block));
        let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        match text("type") {
            "text" => content.push_str(text("text")),
            "thinking" => reasoning.push_str(text("thinking")),
            "tool_use" => {
                let position = tool_calls.len();
                if text("name").is_empty() {
                    return Err(nameless_call(position));
                }
                let id =
                    Some(text("id")).filter(|id| !id.is_empty()).map_or_else(|| synthetic_id(position), str::to_owned);
                let arguments = match block.get("input") {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(input) => input.to_string(),
                };
                tool_calls.push(ToolCall { id, name: text("name").to_owned(), arguments });
            }
            // redacted_thinking (kept above for replay only), server tool blocks,
            // citations: nothing herald shows.
            _ => {}
        }
    }
    let mut usage = RawUsage::default();
    if let Some(u) = &response.usage {
        usage.merge(u);
    }
    Ok(Completion {
        content,
        reasoning: Some(reasoning).filter(|r| !r.is_empty()),
        finish_reason: finish_reason(response.stop_reason.as_deref(), !tool_calls.is_empty()),
        tool_calls,
        usage: usage.to_usage(),
        model: response.model,
        thinking,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ThinkingReplay, ToolSpec};
    use herald_core::Message;

    fn call(id: &str, args: &str) -> ToolCall {
        ToolCall { id: id.into(), name: "get_weather".into(), arguments: args.into() }
    }

    fn request(system: Vec<SystemBlock>, messages: Vec<Message>, tools: Vec<ToolSpec>) -> ChatRequest {
        ChatRequest {
            model: "claude-sonnet-4-5".into(),
            system,
            messages,
            tools,
            max_tokens: 1024,
            temperature: None,
            reasoning: None,
            thinking: vec![],
        }
    }

    fn block(text: &str, cache: bool) -> SystemBlock {
        SystemBlock { text: text.into(), cache }
    }

    fn tool(name: &str) -> ToolSpec {
        ToolSpec { name: name.into(), description: format!("{name} tool"), parameters: json!({"type": "object"}) }
    }

    #[test]
    fn request_body_exact_shape() {
        let c1 = call("toolu_1", r#"{"city":"Paris"}"#);
        let c2 = call("toolu_2", r#"{"city":"Rome"}"#);
        let req = ChatRequest {
            temperature: Some(0.5),
            ..request(
                vec![block("You are herald.", true), block("Memory: likes tea.", true), block("Now: Monday.", false)],
                vec![
                    Message::user("Weather in Paris and Rome?"),
                    Message { tool_calls: vec![c1.clone(), c2.clone()], ..Message::assistant("Checking.") },
                    Message::tool_result(&c1, "18C"),
                    Message::tool_result(&c2, "24C"),
                    Message::assistant("Paris 18C, Rome 24C."),
                ],
                vec![tool("get_weather"), tool("get_time")],
            )
        };
        let expected = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "temperature": 0.5,
            "system": [
                {"type": "text", "text": "You are herald."},
                {"type": "text", "text": "Memory: likes tea.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Now: Monday."},
            ],
            "tools": [
                {"name": "get_weather", "description": "get_weather tool", "input_schema": {"type": "object"}},
                {"name": "get_time", "description": "get_time tool", "input_schema": {"type": "object"},
                 "cache_control": {"type": "ephemeral"}},
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"},
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "Paris 18C, Rome 24C."}]},
            ],
        });
        assert_eq!(build_request(&req, false), expected);
        assert_eq!(build_request(&req, true)["stream"], json!(true));
    }

    #[test]
    fn no_cache_marker_without_a_cache_block_and_no_empty_fields() {
        let req = request(vec![block("a", false), block("b", false)], vec![Message::user("hi")], vec![]);
        let body = build_request(&req, false);
        assert_eq!(body["system"], json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]));
        assert!(body.get("tools").is_none() && body.get("temperature").is_none() && body.get("stream").is_none());
        let req = request(vec![], vec![Message::user("hi")], vec![]);
        assert!(build_request(&req, false).get("system").is_none());
    }

    #[test]
    fn cache_marker_skips_back_over_a_blank_block() {
        let req = request(vec![block("stable", false), block("  ", true), block("volatile", false)], vec![], vec![]);
        assert_eq!(
            build_request(&req, false)["system"],
            json!([
                {"type": "text", "text": "stable", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "volatile"},
            ])
        );
    }

    #[test]
    fn same_role_messages_merge_and_tool_results_lead() {
        let c = call("t1", "{}");
        let req = request(
            vec![],
            vec![
                Message::user("one"),
                Message::user("two"),
                Message { tool_calls: vec![c.clone()], ..Message::assistant("") },
                Message::user("by the way"),
                Message::tool_result(&c, ""),
                Message::assistant("   "),
                Message::assistant("done"),
            ],
            vec![],
        );
        assert_eq!(
            build_request(&req, false)["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1"},
                    {"type": "text", "text": "by the way"},
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
            ])
        );
    }

    #[test]
    fn unreadable_arguments_become_an_empty_object() {
        for args in ["", "{not json", "[1,2]", "\"text\"", "null"] {
            let req =
                request(vec![], vec![Message { tool_calls: vec![call("t", args)], ..Message::assistant("") }], vec![]);
            assert_eq!(build_request(&req, false)["messages"][0]["content"][0]["input"], json!({}), "{args:?}");
        }
    }

    #[test]
    fn stray_system_messages_join_the_system_prompt() {
        let req = request(vec![block("base", true)], vec![Message::system("extra"), Message::user("hi")], vec![]);
        let body = build_request(&req, false);
        assert_eq!(body["system"][1], json!({"type": "text", "text": "extra"}));
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn reasoning_becomes_a_thinking_budget_and_drops_temperature() {
        let base = ChatRequest { temperature: Some(0.7), ..request(vec![], vec![Message::user("hi")], vec![]) };
        let expected = [
            (ReasoningEffort::Minimal, 1024, 2048),
            (ReasoningEffort::Low, 2048, 3072),
            (ReasoningEffort::Medium, 8192, 9216),
            (ReasoningEffort::High, 16384, 17408),
            (ReasoningEffort::XHigh, 32000, 33024),
        ];
        for (effort, budget, max_tokens) in expected {
            let body = build_request(&ChatRequest { reasoning: Some(effort), ..base.clone() }, false);
            assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": budget}), "{effort}");
            // 1024 configured tokens never exceed a budget, so the budget goes on top.
            assert_eq!(body["max_tokens"], json!(max_tokens), "{effort}");
            assert!(body.get("temperature").is_none(), "{effort}");
        }
        // A max_tokens already above the budget is kept as configured.
        let roomy = ChatRequest { max_tokens: 4096, reasoning: Some(ReasoningEffort::Low), ..base.clone() };
        let body = build_request(&roomy, true);
        assert_eq!(body["max_tokens"], json!(4096));
        assert_eq!(body["thinking"]["budget_tokens"], json!(2048));
        assert_eq!(body["stream"], json!(true));
        // Exactly at the budget is not below it, so it is raised.
        let tight = ChatRequest { max_tokens: 2048, ..roomy };
        assert_eq!(build_request(&tight, false)["max_tokens"], json!(4096));
        // `none` and no level both send no thinking and keep the temperature.
        for reasoning in [None, Some(ReasoningEffort::None)] {
            let body = build_request(&ChatRequest { reasoning, ..base.clone() }, false);
            assert!(body.get("thinking").is_none());
            assert_eq!(body["temperature"], json!(0.7));
            assert_eq!(body["max_tokens"], json!(1024));
        }
    }

    #[test]
    fn thinking_blocks_lead_their_assistant_message() {
        let c = call("toolu_1", r#"{"city":"Paris"}"#);
        let signed = ThinkingBlock::Thinking { thinking: "Check Paris.".into(), signature: "sig1".into() };
        let redacted = ThinkingBlock::Redacted { data: "opaque".into() };
        let req = ChatRequest {
            reasoning: Some(ReasoningEffort::Low),
            thinking: vec![ThinkingReplay { message: 1, blocks: vec![redacted, signed] }],
            ..request(
                vec![],
                vec![
                    Message::user("Weather?"),
                    Message { tool_calls: vec![c.clone()], ..Message::assistant("Checking.") },
                    Message::tool_result(&c, "18C"),
                ],
                vec![tool("get_weather")],
            )
        };
        let messages = build_request(&req, false)["messages"].clone();
        assert_eq!(
            messages[1],
            json!({"role": "assistant", "content": [
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "thinking", "thinking": "Check Paris.", "signature": "sig1"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ]})
        );
        // Blocks for a message that is not an assistant's go nowhere.
        let misplaced = ChatRequest { thinking: vec![ThinkingReplay { message: 0, ..req.thinking[0].clone() }], ..req };
        let body = build_request(&misplaced, false);
        assert_eq!(body["messages"][0], json!({"role": "user", "content": [{"type": "text", "text": "Weather?"}]}));
        assert_eq!(body["messages"][1]["content"][0], json!({"type": "text", "text": "Checking."}));
    }

    #[test]
    fn parses_the_documented_response() {
        let body = r#"{
          "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
          "content": [
            {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig"},
            {"type": "text", "text": "I'll check."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "San Francisco, CA"}}
          ],
          "stop_reason": "tool_use", "stop_sequence": null,
          "usage": {"input_tokens": 20, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000,
                    "output_tokens": 50, "service_tier": "standard"}
        }"#;
        let c = parse_response(body.as_bytes()).unwrap();
        assert_eq!(c.content, "I'll check.");
        assert_eq!(c.reasoning.as_deref(), Some("The user wants weather."));
        assert_eq!(
            c.tool_calls,
            vec![ToolCall {
                id: "toolu_01".into(),
                name: "get_weather".into(),
                arguments: r#"{"location":"San Francisco, CA"}"#.into()
            }]
        );
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 2120,
                output_tokens: 50,
                cache_read_tokens: 2000,
                cache_write_tokens: 100,
                reasoning_tokens: 0
            }
        );
        assert_eq!(c.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
        assert_eq!(
            c.thinking,
            vec![ThinkingBlock::Thinking { thinking: "The user wants weather.".into(), signature: "sig".into() }]
        );
    }

    #[test]
    fn error_and_unreadable_bodies() {
        let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert!(matches!(parse_response(overloaded.as_bytes()), Err(ProviderError::Server { status: 529, .. })));
        for body in ["", "{}", "nope", r#"{"content":"x"}"#, r#"{"content":[{"type":"tool_use","id":"t"}]}"#] {
            assert!(matches!(parse_response(body.as_bytes()), Err(ProviderError::Malformed { .. })), "{body}");
        }
    }
}
