//! Decoding a streamed Messages response: `message_start`, then per content block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then
//! `message_delta` (stop reason, output tokens) and `message_stop`. `ping` may come
//! anywhere and `error` ends the stream.
//!
//! The event kind is read from the JSON `type` (falling back to the SSE `event:`
//! name), and unknown kinds, block types and delta types are skipped: Anthropic adds
//! new ones and says clients should ignore what they do not know.

use herald_core::ToolCall;
use serde_json::Value;

use super::wire::{RawUsage, finish_reason, nameless_call, synthetic_id};
use super::{KEY_HINT, PROVIDER};
use crate::provider::errors::error_from_envelope;
use crate::provider::http::{Progress, StreamDecoder};
use crate::provider::sse::SseEvent;
use crate::provider::{Completion, ProviderError, StreamDelta, ThinkingBlock};

#[derive(Debug)]
enum Block {
    Text,
    /// Kept whole (text and signature) so the turn can send it back.
    Thinking {
        thinking: String,
        signature: String,
    },
    /// Encrypted thinking: arrives whole in `content_block_start`.
    Redacted {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        /// `input_json_delta` pieces; empty if the input came whole in the start event.
        json: String,
        /// The `input` of `content_block_start`, used when no pieces follow.
        initial: Value,
    },
    Other,
}

/// The state of one streamed Messages response. Feed it events with
/// [`StreamDecoder::on_event`]; [`StreamDecoder::finish`] gives the completion.
#[derive(Debug, Default)]
pub struct AnthropicStreamDecoder {
    /// Content blocks by their `index`, in start order.
    blocks: Vec<(u64, Block)>,
    content: String,
    reasoning: String,
    usage: RawUsage,
    stop_reason: Option<String>,
    model: Option<String>,
    stopped: bool,
}

impl AnthropicStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn malformed(detail: impl Into<String>) -> ProviderError {
        ProviderError::Malformed { provider: PROVIDER, detail: detail.into() }
    }

    fn block_mut(&mut self, index: u64) -> Option<&mut Block> {
        self.blocks.iter_mut().rev().find(|(i, _)| *i == index).map(|(_, b)| b)
    }

    fn on_block_start(&mut self, event: &Value, emit: &mut dyn FnMut(StreamDelta)) -> Result<(), ProviderError> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(self.blocks.len() as u64);
        let Some(start) = event.get("content_block") else {
            return Err(Self::malformed("content_block_start without a content_block"));
        };
        // A second start for an index would leave the first block's deltas and its
        // announced tool call with nowhere to go.
        if self.blocks.iter().any(|(i, _)| *i == index) {
            return Err(Self::malformed(format!("content block {index} started twice")));
        }
        let text = |key: &str| start.get(key).and_then(Value::as_str).unwrap_or_default();
        let block = match text("type") {
            "text" => {
                self.push_text(text("text").to_owned(), emit);
                Block::Text
            }
            "thinking" => {
                self.push_reasoning(text("thinking").to_owned(), emit);
                Block::Thinking { thinking: text("thinking").to_owned(), signature: text("signature").to_owned() }
            }
            "redacted_thinking" => Block::Redacted { data: text("data").to_owned() },
            "tool_use" => {
                let position = self.tool_count();
                if text("name").is_empty() {
                    return Err(nameless_call(position));
                }
                let id =
                    Some(text("id")).filter(|id| !id.is_empty()).map_or_else(|| synthetic_id(position), str::to_owned);
                emit(StreamDelta::ToolCallStarted { id: id.clone(), name: text("name").to_owned() });
                Block::ToolUse {
                    id,
                    name: text("name").to_owned(),
                    json: String::new(),
                    initial: start.get("input").cloned().unwrap_or(Value::Null),
                }
            }
            _ => Block::Other,
        };
        self.blocks.push((index, block));
        Ok(())
    }

    fn on_block_delta(&mut self, event: &Value, emit: &mut dyn FnMut(StreamDelta)) -> Result<(), ProviderError> {
        let Some(delta) = event.get("delta") else {
            return Err(Self::malformed("content_block_delta without a delta"));
        };
        let text = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or_default();
        match text("type") {
            // Text is shown whatever block it claims to belong to: losing words is
            // worse than a server's bookkeeping slip.
            "text_delta" => self.push_text(text("text").to_owned(), emit),
            "thinking_delta" => {
                let index = event.get("index").and_then(Value::as_u64);
                if let Some(Block::Thinking { thinking, .. }) = index.and_then(|i| self.block_mut(i)) {
                    thinking.push_str(text("thinking"));
                }
                self.push_reasoning(text("thinking").to_owned(), emit);
            }
            "signature_delta" => {
                let index = event.get("index").and_then(Value::as_u64);
                match index.and_then(|i| self.block_mut(i)) {
                    Some(Block::Thinking { signature, .. }) => signature.push_str(text("signature")),
                    // A signature with no thinking block to sign would make the replay
                    // unverifiable; better to say so than to send a broken history.
                    _ => {
                        return Err(Self::malformed(format!(
                            "signature_delta for content block {index:?}, which is not a thinking block"
                        )));
                    }
                }
            }
            "input_json_delta" => {
                let index = event.get("index").and_then(Value::as_u64);
                match index.and_then(|i| self.block_mut(i)) {
                    Some(Block::ToolUse { json, .. }) => json.push_str(text("partial_json")),
                    _ => {
                        return Err(Self::malformed(format!(
                            "input_json_delta for content block {index:?}, which is not a tool_use block"
                        )));
                    }
                }
            }
            // citations_delta and whatever comes next.
            _ => {}
        }
        Ok(())
    }

    fn push_text(&mut self, text: String, emit: &mut dyn FnMut(StreamDelta)) {
        if !text.is_empty() {
            self.content.push_str(&text);
            emit(StreamDelta::Text(text));
        }
    }

    fn push_reasoning(&mut self, text: String, emit: &mut dyn FnMut(StreamDelta)) {
        if !text.is_empty() {
            self.reasoning.push_str(&text);
            emit(StreamDelta::Reasoning(text));
        }
    }

    fn tool_count(&self) -> usize {
        self.blocks.iter().filter(|(_, b)| matches!(b, Block::ToolUse { .. })).count()
    }
}

impl StreamDecoder for AnthropicStreamDecoder {
    fn on_event(&mut self, event: &SseEvent, emit: &mut dyn FnMut(StreamDelta)) -> Result<Progress, ProviderError> {
        let value: Value = serde_json::from_str(&event.data).map_err(|e| {
            Self::malformed(format!("a `{}` event is not JSON ({e})", event.event.chars().take(64).collect::<String>()))
        })?;
        if !value.is_object() {
            return Err(Self::malformed(format!("a `{}` event is not a JSON object", event.event)));
        }
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(&event.event);
        match kind {
            "message_start" => {
                let message = value.get("message");
                if let Some(usage) = message.and_then(|m| m.get("usage")) {
                    self.usage.merge(usage);
                }
                if let Some(model) = message.and_then(|m| m.get("model")).and_then(Value::as_str) {
                    self.model = Some(model.to_owned());
                }
            }
            "content_block_start" => self.on_block_start(&value, emit)?,
            "content_block_delta" => self.on_block_delta(&value, emit)?,
            "message_delta" => {
                if let Some(reason) = value.get("delta").and_then(|d| d.get("stop_reason")).and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(usage) = value.get("usage") {
                    self.usage.merge(usage);
                }
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(Progress::Done);
            }
            "error" => {
                let error = value.get("error").unwrap_or(&value);
                return Err(error_from_envelope(PROVIDER, KEY_HINT, error));
            }
            // ping, content_block_stop (nothing to close: input JSON is kept as text
            // and read by the tool), and unknown kinds.
            _ => {}
        }
        Ok(Progress::More)
    }

    fn finish(self) -> Result<Completion, ProviderError> {
        if !self.stopped {
            return Err(ProviderError::StreamCut {
                provider: PROVIDER,
                detail: "the connection closed before `message_stop`".into(),
            });
        }
        let mut thinking = Vec::new();
        let tool_calls: Vec<ToolCall> = self
            .blocks
            .into_iter()
            .filter_map(|(_, block)| match block {
                Block::Thinking { thinking: text, signature } => {
                    thinking.push(ThinkingBlock::Thinking { thinking: text, signature });
                    None
                }
                Block::Redacted { data } => {
                    thinking.push(ThinkingBlock::Redacted { data });
                    None
                }
                Block::ToolUse { id, name, json, initial } => {
                    let arguments = if !json.trim().is_empty() {
                        json
                    } else if initial.is_null() {
                        "{}".to_owned()
                    } else {
                        initial.to_string()
                    };
                    Some(ToolCall { id, name, arguments })
                }
                Block::Text | Block::Other => None,
            })
            .collect();
        Ok(Completion {
            content: self.content,
            reasoning: Some(self.reasoning).filter(|r| !r.is_empty()),
            finish_reason: finish_reason(self.stop_reason.as_deref(), !tool_calls.is_empty()),
            tool_calls,
            usage: self.usage.to_usage(),
            model: self.model,
            thinking,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::decode_stream;
    use herald_core::{FinishReason, Usage};

    /// A recorded stream in the shape of Anthropic's documented example: thinking,
    /// text, then a tool_use whose input arrives as partial JSON, with pings.
    const TOOL_USE_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"output_tokens":2},"content":[],"stop_reason":null}}

event: ping
data: {"type": "ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need the weather."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay, let's check"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" the weather for San Francisco, CA:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"San Francisc"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"o, CA\", \"unit\": \"fah"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"renheit\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

    fn run_chunks(chunks: &[&[u8]]) -> (Result<Completion, ProviderError>, Vec<StreamDelta>) {
        let mut deltas = Vec::new();
        let result =
            decode_stream(PROVIDER, AnthropicStreamDecoder::new(), chunks.iter().copied(), &mut |d| deltas.push(d));
        (result, deltas)
    }

    fn run(input: &str) -> (Result<Completion, ProviderError>, Vec<StreamDelta>) {
        run_chunks(&[input.as_bytes()])
    }

    #[test]
    fn redacted_thinking_is_kept_and_stray_signatures_are_malformed() {
        let stream = r#"event: message_start
data: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":1,"output_tokens":0}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":"a","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"b"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"s1"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"s2"}}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"text","text":"hi"}}

event: message_stop
data: {"type":"message_stop"}

"#;
        let c = run(stream).0.unwrap();
        assert_eq!(c.content, "hi");
        assert_eq!(c.reasoning.as_deref(), Some("ab"));
        assert_eq!(
            c.thinking,
            vec![
                ThinkingBlock::Redacted { data: "EmwKAhgB".into() },
                ThinkingBlock::Thinking { thinking: "ab".into(), signature: "s1s2".into() },
            ]
        );
        let stray = stream.replace(
            r#""index":1,"delta":{"type":"signature_delta","signature":"s1"}"#,
            r#""index":2,"delta":{"type":"signature_delta","signature":"s1"}"#,
        );
        assert!(matches!(run(&stray).0, Err(ProviderError::Malformed { .. })));
    }

    #[test]
    fn text_thinking_and_tool_use() {
        let (result, deltas) = run(TOOL_USE_STREAM);
        let c = result.unwrap();
        assert_eq!(c.content, "Okay, let's check the weather for San Francisco, CA:");
        assert_eq!(c.reasoning.as_deref(), Some("Need the weather."));
        assert_eq!(
            c.tool_calls,
            vec![ToolCall {
                id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                name: "get_weather".into(),
                arguments: r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#.into(),
            }]
        );
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 472 + 1024,
                output_tokens: 89,
                cache_read_tokens: 1024,
                cache_write_tokens: 0,
                reasoning_tokens: 0
            }
        );
        assert_eq!(c.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
        assert_eq!(
            c.thinking,
            vec![ThinkingBlock::Thinking { thinking: "Need the weather.".into(), signature: "EqQBCgIYAhIM".into() }]
        );
        assert_eq!(
            deltas,
            vec![
                StreamDelta::Reasoning("Need the weather.".into()),
                StreamDelta::Text("Okay, let's check".into()),
                StreamDelta::Text(" the weather for San Francisco, CA:".into()),
                StreamDelta::ToolCallStarted {
                    id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "get_weather".into()
                },
            ]
        );
    }

    #[test]
    fn any_chunking_and_crlf_give_the_same_result() {
        let whole = run(TOOL_USE_STREAM);
        let crlf = TOOL_USE_STREAM.replace('\n', "\r\n");
        for input in [TOOL_USE_STREAM, crlf.as_str()] {
            for size in [1, 5, 13, 4096] {
                let chunks: Vec<&[u8]> = input.as_bytes().chunks(size).collect();
                let (result, deltas) = run_chunks(&chunks);
                assert_eq!(result.unwrap(), whole.0.clone().unwrap(), "chunk size {size}");
                assert_eq!(deltas, whole.1);
            }
        }
    }

    #[test]
    fn eof_before_message_stop_is_cut() {
        let cut = &TOOL_USE_STREAM[..TOOL_USE_STREAM.find("event: message_stop").unwrap()];
        assert!(matches!(run(cut).0, Err(ProviderError::StreamCut { .. })));
        assert!(matches!(run("").0, Err(ProviderError::StreamCut { .. })));
    }

    #[test]
    fn overloaded_error_event_is_a_retryable_server_error() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n\n",
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        let err = run(stream).0.unwrap_err();
        assert!(matches!(err, ProviderError::Server { status: 529, .. }), "{err:?}");
        assert!(err.is_retryable());
    }

    #[test]
    fn tool_input_given_whole_at_start() {
        let stream = concat!(
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"a\":1}}}\n\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(run(stream).0.unwrap().tool_calls[0].arguments, r#"{"a":1}"#);
    }

    #[test]
    fn unknown_events_blocks_and_deltas_are_skipped() {
        let stream = concat!(
            "event: surprise\ndata: {\"type\":\"surprise\",\"x\":1}\n\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\"}}\n\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"future_delta\"}}\n\n",
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"hi\"}}\n\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        let c = run(stream).0.unwrap();
        assert_eq!((c.content.as_str(), c.finish_reason, c.usage.output_tokens), ("hi", FinishReason::Stop, 3));
    }

    #[test]
    fn broken_events_are_malformed() {
        for stream in [
            "data: {not json\n\n",
            "data: [1]\n\n",
            "data: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\"}}\n\n",
            "data: {\"type\":\"content_block_start\",\"index\":0}\n\n",
            concat!(
                "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n",
                "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\n",
            ),
        ] {
            assert!(matches!(run(stream).0, Err(ProviderError::Malformed { .. })), "{stream}");
        }
    }

    #[test]
    fn event_name_is_the_fallback_kind() {
        let stream = "event: message_stop\ndata: {}\n\n";
        assert!(run(stream).0.is_ok());
    }
}
