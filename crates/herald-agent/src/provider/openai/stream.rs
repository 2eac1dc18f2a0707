//! Decoding a streamed chat completion: `data: {chunk}` events until `data: [DONE]`.
//!
//! Tool calls arrive in fragments. OpenAI sends `index`, `id` and the function name in
//! a call's first fragment and only `index` plus an argument piece after that; other
//! servers repeat the id on every fragment, leave out `index`, or give every parallel
//! call index 0 with distinct ids. [`OpenAiStreamDecoder`] matches fragments to calls
//! in a way that reads all of those the same.

use serde::Deserialize;
use serde_json::Value;

use super::wire::{PartialCall, WireUsage, arguments_text, finish_calls, finish_reason, synthetic_id, text_of};
use super::{KEY_HINT, PROVIDER};
use crate::provider::errors::error_from_envelope;
use crate::provider::http::{Progress, StreamDecoder};
use crate::provider::sse::SseEvent;
use crate::provider::{Completion, ProviderError, StreamDelta};

#[derive(Debug, Deserialize)]
struct Chunk {
    model: Option<String>,
    choices: Option<Vec<ChunkChoice>>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    index: Option<i64>,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    content: Option<Value>,
    reasoning_content: Option<Value>,
    reasoning: Option<Value>,
    refusal: Option<Value>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    index: Option<i64>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<Value>,
}

#[derive(Debug)]
struct StreamCall {
    call: PartialCall,
    index: Option<i64>,
    /// The id was made up here because the server sent none; a real id arriving later
    /// for the same index is then not a new call.
    synthetic_id: bool,
    announced: bool,
}

/// The state of one streamed chat completion. Feed it events with
/// [`StreamDecoder::on_event`]; [`StreamDecoder::finish`] gives the completion.
#[derive(Debug, Default)]
pub struct OpenAiStreamDecoder {
    content: String,
    reasoning: String,
    calls: Vec<StreamCall>,
    usage: Option<WireUsage>,
    finish_reason: Option<String>,
    model: Option<String>,
    done: bool,
}

impl OpenAiStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn on_chunk(&mut self, chunk: Chunk, emit: &mut dyn FnMut(StreamDelta)) -> Result<(), ProviderError> {
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            return Err(error_from_envelope(PROVIDER, KEY_HINT, &error));
        }
        if self.model.is_none() {
            self.model = chunk.model.filter(|m| !m.is_empty());
        }
        // Usage is cumulative; servers that send it on every chunk end with the total.
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        // Only the first choice is the answer (`n` > 1 is never requested).
        for choice in chunk.choices.unwrap_or_default().into_iter().filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(delta) = choice.delta {
                self.on_delta(delta, emit);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(reason);
            }
        }
        Ok(())
    }

    fn on_delta(&mut self, delta: Delta, emit: &mut dyn FnMut(StreamDelta)) {
        // Some servers send the same text as both `reasoning_content` and `reasoning`.
        let reasoning = text_of(delta.reasoning_content.as_ref()).or_else(|| text_of(delta.reasoning.as_ref()));
        if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
            self.reasoning.push_str(&text);
            emit(StreamDelta::Reasoning(text));
        }
        for text in [text_of(delta.content.as_ref()), text_of(delta.refusal.as_ref())].into_iter().flatten() {
            if !text.is_empty() {
                self.content.push_str(&text);
                emit(StreamDelta::Text(text));
            }
        }
        for fragment in delta.tool_calls.unwrap_or_default() {
            self.on_tool_fragment(fragment, emit);
        }
    }

    fn on_tool_fragment(&mut self, fragment: ToolCallDelta, emit: &mut dyn FnMut(StreamDelta)) {
        let id = fragment.id.filter(|id| !id.is_empty());
        let slot = self.slot_for(fragment.index, id.as_deref());
        let position = slot;
        let entry = &mut self.calls[slot];
        if entry.call.id.is_empty()
            && let Some(id) = id
        {
            entry.call.id = id;
        }
        if let Some(function) = fragment.function {
            if let Some(name) = function.name.filter(|n| !n.is_empty()) {
                // Servers that repeat the name on every fragment repeat it whole.
                if entry.call.name.is_empty() {
                    entry.call.name = name;
                }
            }
            entry.call.arguments.push_str(&arguments_text(function.arguments.as_ref()));
        }
        if !entry.announced && !entry.call.name.is_empty() {
            if entry.call.id.is_empty() {
                entry.call.id = synthetic_id(position);
                entry.synthetic_id = true;
            }
            entry.announced = true;
            emit(StreamDelta::ToolCallStarted { id: entry.call.id.clone(), name: entry.call.name.clone() });
        }
    }

    /// Which call a fragment belongs to, creating it if it is new.
    fn slot_for(&mut self, index: Option<i64>, id: Option<&str>) -> usize {
        if let Some(id) = id
            && let Some(i) = self.calls.iter().position(|c| c.call.id == id)
        {
            return i;
        }
        let found = match index {
            Some(index) => self.calls.iter().rposition(|c| c.index == Some(index)).filter(|&i| {
                // Same index but a different real id: a server that numbers every
                // parallel call 0. That is a new call.
                let c = &self.calls[i];
                id.is_none() || c.call.id.is_empty() || c.synthetic_id
            }),
            // No index and no known id: a continuation of the latest call, unless the
            // fragment brings an id of its own.
            None if id.is_none() => self.calls.len().checked_sub(1),
            None => None,
        };
        found.unwrap_or_else(|| {
            self.calls.push(StreamCall { call: PartialCall::default(), index, synthetic_id: false, announced: false });
            self.calls.len() - 1
        })
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn on_event(&mut self, event: &SseEvent, emit: &mut dyn FnMut(StreamDelta)) -> Result<Progress, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Progress::Done);
        }
        if data.is_empty() {
            return Ok(Progress::More);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| ProviderError::Malformed {
            provider: PROVIDER,
            detail: format!("a stream chunk is not a chat-completion chunk ({e}): {}", preview(data)),
        })?;
        self.on_chunk(chunk, emit)?;
        Ok(Progress::More)
    }

    fn finish(self) -> Result<Completion, ProviderError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(ProviderError::StreamCut {
                provider: PROVIDER,
                detail: "the connection closed before `[DONE]` or a finish_reason".into(),
            });
        }
        let tool_calls = finish_calls(self.calls.into_iter().map(|c| c.call).collect())?;
        Ok(Completion {
            content: self.content,
            reasoning: Some(self.reasoning).filter(|r| !r.is_empty()),
            finish_reason: finish_reason(self.finish_reason.as_deref(), !tool_calls.is_empty()),
            tool_calls,
            usage: self.usage.map(|u| u.to_usage()).unwrap_or_default(),
            model: self.model,
            thinking: Vec::new(),
        })
    }
}

/// The start of a bad chunk, for the error message.
fn preview(data: &str) -> String {
    match data.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &data[..cut]),
        None => data.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::decode_stream;
    use herald_core::{FinishReason, ToolCall, Usage};

    /// A recorded OpenAI stream: two parallel tool calls, arguments in many pieces,
    /// usage in a final chunk with no choices.
    const PARALLEL_TOOL_CALLS: &str = concat!(
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"lo"}}]},"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"cation\": \"Par"}}]},"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"is\"}"}}]},"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"get_time","arguments":""}}]},"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":"}}]},"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":" \"CET\"}"}}]},"finish_reason":null}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":80,"completion_tokens":40,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        "\n\n",
        "data: [DONE]\n\n",
    );

    const TEXT: &str = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"thinking\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\", wörld\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );

    fn run(input: &str) -> (Result<Completion, ProviderError>, Vec<StreamDelta>) {
        run_chunks(&[input.as_bytes()])
    }

    fn run_chunks(chunks: &[&[u8]]) -> (Result<Completion, ProviderError>, Vec<StreamDelta>) {
        let mut deltas = Vec::new();
        let result =
            decode_stream(PROVIDER, OpenAiStreamDecoder::new(), chunks.iter().copied(), &mut |d| deltas.push(d));
        (result, deltas)
    }

    #[test]
    fn parallel_tool_calls_with_split_arguments() {
        let (result, deltas) = run(PARALLEL_TOOL_CALLS);
        let c = result.unwrap();
        assert_eq!(
            c.tool_calls,
            vec![
                ToolCall {
                    id: "call_A".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"location": "Paris"}"#.into()
                },
                ToolCall { id: "call_B".into(), name: "get_time".into(), arguments: r#"{"tz": "CET"}"#.into() },
            ]
        );
        assert_eq!(
            deltas,
            vec![
                StreamDelta::ToolCallStarted { id: "call_A".into(), name: "get_weather".into() },
                StreamDelta::ToolCallStarted { id: "call_B".into(), name: "get_time".into() },
            ]
        );
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        assert_eq!(c.usage, Usage { input_tokens: 80, output_tokens: 40, ..Usage::default() });
        assert_eq!(c.model.as_deref(), Some("gpt-4o-2024-08-06"));
    }

    #[test]
    fn any_chunking_gives_the_same_result() {
        let whole = run(PARALLEL_TOOL_CALLS);
        let bytes = PARALLEL_TOOL_CALLS.as_bytes();
        for size in [1, 2, 3, 7, 64, 500] {
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            let (result, deltas) = run_chunks(&chunks);
            assert_eq!(result.unwrap(), whole.0.clone().unwrap(), "chunk size {size}");
            assert_eq!(deltas, whole.1, "chunk size {size}");
        }
    }

    #[test]
    fn text_and_reasoning() {
        let (result, deltas) = run(TEXT);
        let c = result.unwrap();
        assert_eq!(c.content, "Hello, wörld");
        assert_eq!(c.reasoning.as_deref(), Some("thinking"));
        assert_eq!(c.finish_reason, FinishReason::Stop);
        assert_eq!(
            deltas,
            vec![
                StreamDelta::Reasoning("thinking".into()),
                StreamDelta::Text("Hello".into()),
                StreamDelta::Text(", wörld".into()),
            ]
        );
    }

    #[test]
    fn ids_on_every_fragment_and_no_index() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\":1}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (result, deltas) = run(stream);
        let c = result.unwrap();
        assert_eq!(
            c.tool_calls.iter().map(|t| (&*t.id, &*t.name, &*t.arguments)).collect::<Vec<_>>(),
            [("a", "f", "{\"x\":1}"), ("b", "g", "{}")]
        );
        assert_eq!(deltas.len(), 2, "each call announced once: {deltas:?}");
    }

    #[test]
    fn every_parallel_call_at_index_zero_with_its_own_id() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
        );
        let c = run(stream).0.unwrap();
        assert_eq!(c.tool_calls.iter().map(|t| &*t.id).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn calls_without_ids_get_stable_made_up_ones() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        );
        let (result, deltas) = run(stream);
        let c = result.unwrap();
        assert_eq!(deltas, vec![StreamDelta::ToolCallStarted { id: "call_herald_0".into(), name: "f".into() }]);
        assert_eq!(c.tool_calls[0].id, "call_herald_0");
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
    }

    #[test]
    fn eof_without_done_or_finish_reason_is_cut() {
        let cut = &TEXT[..TEXT.find("data: {\"choices\":[{\"index\":0,\"delta\":{},").unwrap()];
        let (result, deltas) = run(cut);
        assert!(matches!(result, Err(ProviderError::StreamCut { .. })), "{result:?}");
        assert_eq!(deltas.len(), 3);
        // Cut in the middle of a line: the partial line is not data.
        let (result, _) = run(&TEXT[..TEXT.find("Hello").unwrap()]);
        assert!(matches!(result, Err(ProviderError::StreamCut { .. })));
    }

    #[test]
    fn finish_reason_without_done_is_complete() {
        let stream = TEXT.replace("data: [DONE]\n\n", "");
        assert_eq!(run(&stream).0.unwrap().content, "Hello, wörld");
    }

    #[test]
    fn bad_json_is_malformed() {
        let (result, _) = run("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json\n\n");
        match result {
            Err(ProviderError::Malformed { detail, .. }) => {
                assert!(detail.contains("{not json"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(run("data: [1,2]\n\n").0, Err(ProviderError::Malformed { .. })));
        assert!(matches!(run_chunks(&[b"data: \xff\n\n"]).0, Err(ProviderError::Malformed { .. })));
    }

    #[test]
    fn error_object_in_the_stream() {
        let stream = "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
        assert!(matches!(run(stream).0, Err(ProviderError::Server { status: 500, .. })));
        // OpenRouter: numeric code next to a finish_reason of "error".
        let stream = "data: {\"error\":{\"code\":429,\"message\":\"limited\"},\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n";
        assert!(matches!(run(stream).0, Err(ProviderError::RateLimited { .. })));
    }

    #[test]
    fn usage_with_cached_and_reasoning_tokens() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":50,",
            "\"prompt_tokens_details\":{\"cached_tokens\":90},\"completion_tokens_details\":{\"reasoning_tokens\":20}}}\n\n",
            "data: [DONE]\n\n"
        );
        let c = run(stream).0.unwrap();
        assert_eq!(c.finish_reason, FinishReason::Length);
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 100,
                output_tokens: 50,
                cache_read_tokens: 90,
                cache_write_tokens: 0,
                reasoning_tokens: 20
            }
        );
    }

    #[test]
    fn other_choices_are_ignored() {
        let stream = concat!(
            "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"no\"}},{\"index\":0,\"delta\":{\"content\":\"yes\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        );
        assert_eq!(run(stream).0.unwrap().content, "yes");
    }

    #[test]
    fn nothing_after_done_is_read() {
        let (result, _) = run(&format!("{TEXT}data: {{broken\n\n"));
        assert!(result.is_ok());
    }
}
