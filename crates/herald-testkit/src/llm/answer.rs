//! A successful answer, prepared once and rendered by either wire.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::chunk::word_count;
use super::record::Wire;
use super::script::{ScriptedToolCall, TokenUsage};

/// Per-server id counters, so ids are unique across a conversation's turns
/// (a client that keys tool results by id must not see a repeat).
#[derive(Default)]
pub(crate) struct Ids {
    response: AtomicU64,
    call: AtomicU64,
}

impl Ids {
    fn next(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// One tool call with its generated id and its arguments already serialized.
pub(crate) struct Call<'a> {
    pub id: String,
    pub name: &'a str,
    pub arguments: &'a Value,
    /// The arguments as JSON text: OpenAI's `function.arguments` and the
    /// fragments both wires stream.
    pub arguments_json: String,
}

/// Everything a wire needs to render an answer.
pub(crate) struct Answer<'a> {
    /// `chatcmpl-N` or `msg_N`.
    pub id: String,
    /// Unix seconds; OpenAI's `created`.
    pub created: u64,
    pub model: &'a str,
    pub text: &'a str,
    pub calls: Vec<Call<'a>>,
    pub usage: TokenUsage,
}

impl<'a> Answer<'a> {
    /// `input_estimate` is used for the input count unless the script overrides usage.
    pub fn new(
        wire: Wire,
        ids: &Ids,
        model: &'a str,
        text: &'a str,
        calls: &'a [ScriptedToolCall],
        usage: Option<TokenUsage>,
        input_estimate: u64,
    ) -> Self {
        let (response_prefix, call_prefix) = match wire {
            Wire::OpenAi => ("chatcmpl-", "call_"),
            Wire::Anthropic => ("msg_", "toolu_"),
        };
        let calls: Vec<Call<'a>> = calls
            .iter()
            .map(|c| Call {
                id: format!("{call_prefix}{}", Ids::next(&ids.call)),
                name: &c.name,
                arguments: &c.arguments,
                arguments_json: c.arguments.to_string(),
            })
            .collect();
        let usage =
            usage.unwrap_or_else(|| TokenUsage { input: input_estimate, output: output_estimate(text, &calls) });
        Self {
            id: format!("{response_prefix}{}", Ids::next(&ids.response)),
            created: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            model,
            text,
            calls,
            usage,
        }
    }

    pub fn has_calls(&self) -> bool {
        !self.calls.is_empty()
    }
}

/// A rough input token count: a quarter of the request body's bytes.
pub(crate) fn input_estimate(body_len: usize) -> u64 {
    (body_len as u64 / 4).max(1)
}

/// A rough output token count: words of text plus a quarter of each call's
/// argument bytes; at least one, as a real model always emits something.
fn output_estimate(text: &str, calls: &[Call<'_>]) -> u64 {
    let args: u64 = calls.iter().map(|c| c.arguments_json.len() as u64 / 4 + 1).sum();
    (word_count(text) + args).max(1)
}

/// How a streamed answer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamShape {
    /// Every event through the wire's terminator.
    Complete,
    /// The text deltas, then nothing: the body drops the connection.
    Cut,
    /// The opening event, one `data:` line that is not JSON, then a normal end.
    Malformed,
}
