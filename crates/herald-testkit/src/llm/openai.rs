//! The OpenAI chat-completions wire: responses, stream chunks and errors.

use serde::Serialize;

use super::answer::{Answer, StreamShape};
use super::body::{Frames, to_json};
use super::chunk::{split_even, split_words};
use super::request::Invalid;
use super::script::TokenUsage;

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl From<TokenUsage> for Usage {
    fn from(u: TokenUsage) -> Self {
        Self { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input.saturating_add(u.output) }
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless `stream_options.include_usage`; then `null` on every chunk
    /// but the last, as the real API does.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// Absent, `null` or text.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "no_calls")]
    tool_calls: &'a [ToolCallDelta<'a>],
}

fn no_calls(calls: &&[ToolCallDelta<'_>]) -> bool {
    calls.is_empty()
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

fn finish_reason(answer: &Answer<'_>) -> &'static str {
    if answer.has_calls() { "tool_calls" } else { "stop" }
}

/// The non-streaming `chat.completion` body.
pub(crate) fn complete(answer: &Answer<'_>) -> Vec<u8> {
    // Real responses carry `null` content next to tool calls, `""` for an empty answer.
    let content = (!answer.text.is_empty() || !answer.has_calls()).then_some(answer.text);
    let tool_calls = answer
        .calls
        .iter()
        .map(|c| ToolCall {
            id: &c.id,
            kind: "function",
            function: Function { name: c.name, arguments: &c.arguments_json },
        })
        .collect();
    to_json(&Completion {
        id: &answer.id,
        object: "chat.completion",
        created: answer.created,
        model: answer.model,
        choices: [CompletionChoice {
            index: 0,
            message: Message { role: "assistant", content, tool_calls },
            logprobs: (),
            finish_reason: finish_reason(answer),
        }],
        usage: answer.usage.into(),
    })
}

/// Writes the chunks of one stream, sharing id, timestamp and model.
struct ChunkWriter<'a> {
    frames: Frames,
    answer: &'a Answer<'a>,
    include_usage: bool,
}

impl ChunkWriter<'_> {
    fn push(&mut self, delta: Delta<'_>, finish_reason: Option<&'static str>) {
        let choices = [ChunkChoice { index: 0, delta, logprobs: (), finish_reason }];
        self.frames.data(&Chunk {
            id: &self.answer.id,
            object: "chat.completion.chunk",
            created: self.answer.created,
            model: self.answer.model,
            choices: &choices,
            usage: self.include_usage.then_some(None),
        });
    }

    fn push_usage(&mut self) {
        self.frames.data(&Chunk {
            id: &self.answer.id,
            object: "chat.completion.chunk",
            created: self.answer.created,
            model: self.answer.model,
            choices: &[],
            usage: Some(Some(self.answer.usage.into())),
        });
    }
}

/// A line that starts like a chunk and stops mid-string.
const MALFORMED_CHUNK: &[u8] =
    b"data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"unterminated\n\n";

/// The `chat.completion.chunk` events of one streamed answer.
pub(crate) fn stream(answer: &Answer<'_>, shape: StreamShape, chunks: usize, include_usage: bool) -> Frames {
    let mut w = ChunkWriter { frames: Frames::default(), answer, include_usage };
    // The opening chunk names the role; its content is `""` when text follows and
    // `null` when only tool calls do, so clients meet both forms.
    let opening_content = if answer.text.is_empty() && answer.has_calls() { None } else { Some("") };
    w.push(Delta { role: Some("assistant"), content: Some(opening_content), ..Delta::default() }, None);
    if shape == StreamShape::Malformed {
        w.frames.raw(MALFORMED_CHUNK);
    }
    for piece in split_words(answer.text, chunks) {
        w.push(Delta { content: Some(Some(piece)), ..Delta::default() }, None);
    }
    if shape == StreamShape::Cut {
        return w.frames;
    }
    for (index, call) in answer.calls.iter().enumerate() {
        let start = [ToolCallDelta {
            index,
            id: Some(&call.id),
            kind: Some("function"),
            function: FunctionDelta { name: Some(call.name), arguments: "" },
        }];
        w.push(Delta { tool_calls: &start, ..Delta::default() }, None);
        for fragment in split_even(&call.arguments_json, chunks) {
            let more = [ToolCallDelta {
                index,
                id: None,
                kind: None,
                function: FunctionDelta { name: None, arguments: fragment },
            }];
            w.push(Delta { tool_calls: &more, ..Delta::default() }, None);
        }
    }
    w.push(Delta::default(), Some(finish_reason(answer)));
    if include_usage {
        w.push_usage();
    }
    w.frames.raw(b"data: [DONE]\n\n");
    w.frames
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

fn envelope(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Vec<u8> {
    to_json(&ErrorEnvelope { error: ErrorBody { message, kind, param, code } })
}

/// The envelope for a scripted error with no body of its own, typed the way
/// OpenAI types that status.
pub(crate) fn error_for_status(status: u16) -> Vec<u8> {
    let (kind, code) = match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("requests", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    let message = format!("Scripted error (HTTP {status}).");
    envelope(&message, kind, None, code)
}

/// A 400 body in OpenAI's words.
pub(crate) fn invalid_request(invalid: &Invalid) -> Vec<u8> {
    let (message, param, code): (String, Option<&str>, Option<&str>) = match invalid {
        Invalid::NotJson(_) | Invalid::NotObject => (
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
             but what was sent was not valid JSON.)"
                .to_owned(),
            None,
            None,
        ),
        Invalid::Missing("model") => ("you must provide a model parameter".to_owned(), None, None),
        Invalid::Missing(field) => {
            (format!("Missing required parameter: '{field}'."), Some(field), Some("missing_required_parameter"))
        }
        Invalid::WrongType { field, expected } => {
            (format!("Invalid type for '{field}': expected {expected}."), Some(field), Some("invalid_type"))
        }
        Invalid::EmptyMessages => (
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got \
             an empty array instead."
                .to_owned(),
            Some("messages"),
            Some("empty_array"),
        ),
        Invalid::StreamOptionsWithoutStream => (
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.".to_owned(),
            Some("stream_options"),
            None,
        ),
        Invalid::MaxTokensTooSmall => {
            ("Invalid 'max_tokens': integer below minimum value.".to_owned(), Some("max_tokens"), None)
        }
    };
    envelope(&message, "invalid_request_error", param, code)
}

/// Any other failure (unknown path, wrong method, unreadable body).
pub(crate) fn other_error(message: &str) -> Vec<u8> {
    envelope(message, "invalid_request_error", None, None)
}
