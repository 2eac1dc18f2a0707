//! The Anthropic Messages wire: responses, stream events and errors.

use serde::Serialize;
use serde_json::Value;

use super::answer::{Answer, StreamShape};
use super::body::{Frames, to_json};
use super::chunk::{split_even, split_words};
use super::request::Invalid;
use super::script::TokenUsage;

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'a [Block<'a>],
    stop_reason: Option<&'static str>,
    stop_sequence: (),
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text { text: &'a str },
    ToolUse { id: &'a str, name: &'a str, input: &'a Value },
}

/// A block as `content_block_start` announces it: empty, filled by deltas.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock<'a> {
    Text { text: &'static str },
    ToolUse { id: &'a str, name: &'a str, input: EmptyObject },
}

/// Serializes as `{}`.
#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
}

impl Usage {
    fn new(input: u64, output: u64) -> Self {
        Self { input_tokens: input, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
    }
}

impl From<TokenUsage> for Usage {
    fn from(u: TokenUsage) -> Self {
        Self::new(u.input, u.output)
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart { message: Message<'a> },
    ContentBlockStart { index: usize, content_block: StartBlock<'a> },
    Ping,
    ContentBlockDelta { index: usize, delta: BlockDelta<'a> },
    ContentBlockStop { index: usize },
    MessageDelta { delta: StopDelta, usage: OutputUsage },
    MessageStop,
}

impl Event<'_> {
    /// The SSE `event:` name, which always equals the `type` field.
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: (),
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

fn stop_reason(answer: &Answer<'_>) -> &'static str {
    if answer.has_calls() { "tool_use" } else { "end_turn" }
}

/// A text block is sent when there is text, or when there is nothing else:
/// a message always has at least one block.
fn has_text_block(answer: &Answer<'_>) -> bool {
    !answer.text.is_empty() || !answer.has_calls()
}

/// The non-streaming `message` body.
pub(crate) fn complete(answer: &Answer<'_>) -> Vec<u8> {
    let mut content = Vec::with_capacity(answer.calls.len() + 1);
    if has_text_block(answer) {
        content.push(Block::Text { text: answer.text });
    }
    content.extend(answer.calls.iter().map(|c| Block::ToolUse { id: &c.id, name: c.name, input: c.arguments }));
    to_json(&Message {
        id: &answer.id,
        kind: "message",
        role: "assistant",
        model: answer.model,
        content: &content,
        stop_reason: Some(stop_reason(answer)),
        stop_sequence: (),
        usage: answer.usage.into(),
    })
}

/// A line that starts like a text delta and stops mid-string.
const MALFORMED_EVENT: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"unterminated\n\n";

/// The events of one streamed message.
pub(crate) fn stream(answer: &Answer<'_>, shape: StreamShape, chunks: usize) -> Frames {
    let mut frames = Frames::default();
    let f = &mut frames;

    push(
        f,
        Event::MessageStart {
            message: Message {
                id: &answer.id,
                kind: "message",
                role: "assistant",
                model: answer.model,
                content: &[],
                stop_reason: None,
                stop_sequence: (),
                // The real server reports the input up front and a token or so of
                // output; the full output count comes in `message_delta`.
                usage: Usage::new(answer.usage.input, answer.usage.output.min(1)),
            },
        },
    );

    let mut index = 0;
    if has_text_block(answer) {
        let content_block = StartBlock::Text { text: "" };
        push(f, Event::ContentBlockStart { index, content_block });
        push(f, Event::Ping);
        if shape == StreamShape::Malformed {
            f.raw(MALFORMED_EVENT);
        }
        for piece in split_words(answer.text, chunks) {
            let delta = BlockDelta::TextDelta { text: piece };
            push(f, Event::ContentBlockDelta { index, delta });
        }
        if shape == StreamShape::Cut {
            return frames;
        }
        push(f, Event::ContentBlockStop { index });
        index += 1;
    }

    for call in &answer.calls {
        let content_block = StartBlock::ToolUse { id: &call.id, name: call.name, input: EmptyObject {} };
        push(f, Event::ContentBlockStart { index, content_block });
        if index == 0 {
            push(f, Event::Ping);
        }
        for fragment in split_even(&call.arguments_json, chunks) {
            let delta = BlockDelta::InputJsonDelta { partial_json: fragment };
            push(f, Event::ContentBlockDelta { index, delta });
        }
        push(f, Event::ContentBlockStop { index });
        index += 1;
    }

    let delta = StopDelta { stop_reason: stop_reason(answer), stop_sequence: () };
    let usage = OutputUsage { output_tokens: answer.usage.output };
    push(f, Event::MessageDelta { delta, usage });
    push(f, Event::MessageStop);
    frames
}

fn push(frames: &mut Frames, event: Event<'_>) {
    frames.event(event.name(), &event);
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

fn envelope(kind: &str, message: &str) -> Vec<u8> {
    to_json(&ErrorEnvelope { kind: "error", error: ErrorBody { kind, message } })
}

/// The envelope for a scripted error with no body of its own, typed the way
/// Anthropic types that status.
pub(crate) fn error_for_status(status: u16) -> Vec<u8> {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    envelope(kind, &format!("Scripted error (HTTP {status})."))
}

/// A 400 body in Anthropic's words.
pub(crate) fn invalid_request(invalid: &Invalid) -> Vec<u8> {
    let message = match invalid {
        Invalid::NotJson(err) => format!("There was an issue with the request body: {err}"),
        Invalid::NotObject => "The request body must be a JSON object.".to_owned(),
        Invalid::Missing(field) => format!("{field}: Field required"),
        Invalid::WrongType { field, expected } => format!("{field}: Input should be {expected}"),
        Invalid::EmptyMessages => "messages: at least one message is required".to_owned(),
        Invalid::StreamOptionsWithoutStream => "stream_options: Extra inputs are not permitted".to_owned(),
        Invalid::MaxTokensTooSmall => "max_tokens: Input should be greater than or equal to 1".to_owned(),
    };
    envelope("invalid_request_error", &message)
}

/// Any other failure (unknown path, wrong method, unreadable body).
pub(crate) fn other_error(kind: &str, message: &str) -> Vec<u8> {
    envelope(kind, message)
}
