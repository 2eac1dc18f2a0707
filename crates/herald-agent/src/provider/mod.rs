//! LLM wire clients behind one [`Provider`] trait.
//!
//! The turn loop speaks only in these types; each provider translates them to its
//! wire format (OpenAI chat completions, Anthropic Messages) and back.
//!
//! Modules: [`sse`] parses event streams, [`http`] holds what both clients share on
//! the wire (client construction, timeouts, reading bodies and streams), [`errors`]
//! maps what a server said went wrong to a [`ProviderError`], [`retry`] is the retry
//! schedule, and [`openai`] and [`anthropic`] are the two wire formats.
//!
//! Token counts are normalised: [`Usage::input_tokens`] counts every prompt token,
//! cached or not (OpenAI's meaning; Anthropic's `input_tokens` excludes cached ones,
//! so its client adds them back), and `cache_read_tokens` / `cache_write_tokens` say
//! how many of those were read from or written to the provider's prompt cache.

pub mod anthropic;
pub mod errors;
pub mod http;
pub mod openai;
pub mod retry;
pub mod sse;

use std::time::Duration;

use async_trait::async_trait;
use herald_core::{FinishReason, Message, ToolCall, Usage};
use serde::{Deserialize, Serialize};

pub use anthropic::{AnthropicConfig, AnthropicProvider};
pub use http::{ProviderSetupError, Timeouts};
pub use openai::{OpenAiConfig, OpenAiProvider};
pub use retry::RetryPolicy;

/// A block of the system prompt. The provider keeps blocks in order; `cache: true`
/// marks the end of the stable prefix that Anthropic may cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemBlock {
    pub text: String,
    pub cache: bool,
}

/// A tool as offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// One model call.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub system: Vec<SystemBlock>,
    /// The conversation, oldest first. Never contains `Role::System` messages:
    /// system text goes in `system`.
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    /// How hard the model should think before answering; `None` leaves it to the
    /// provider's default (nothing is sent).
    pub reasoning: Option<ReasoningEffort>,
    /// Thinking blocks to send back with assistant messages of the current turn.
    /// Anthropic rejects a tool-use loop with thinking on unless each assistant
    /// message of the loop carries its thinking blocks, unchanged and signed; herald's
    /// [`Message`] has no room for them, so the turn keeps them here. Other providers
    /// ignore this.
    pub thinking: Vec<ThinkingReplay>,
}

/// The thinking blocks of one assistant message, as the provider sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkingReplay {
    /// Index into [`ChatRequest::messages`] of the assistant message they belong to.
    pub message: usize,
    pub blocks: Vec<ThinkingBlock>,
}

/// A block of the model's thinking that must travel back verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThinkingBlock {
    /// Visible thinking with the signature that proves it is unmodified.
    Thinking { thinking: String, signature: String },
    /// Thinking the provider encrypted; only its opaque data travels.
    Redacted { data: String },
}

/// How much the model reasons before answering: Hermes's `/reasoning` levels.
/// OpenAI sends the level as `reasoning_effort`; Anthropic turns it into an extended
/// thinking budget (see [`ReasoningEffort::anthropic_budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasoningEffort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
}

impl ReasoningEffort {
    /// Every level, lowest first (for help texts and parse errors).
    pub const ALL: [ReasoningEffort; 6] = [
        ReasoningEffort::None,
        ReasoningEffort::Minimal,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
        ReasoningEffort::XHigh,
    ];

    /// Reads a level as the user types it: case and surrounding spaces do not matter.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL.into_iter().find(|level| level.as_str().eq_ignore_ascii_case(text))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::XHigh => "xhigh",
        }
    }

    /// The Anthropic extended-thinking budget in tokens, `None` for no thinking.
    /// 1024 is the smallest budget Anthropic accepts.
    pub fn anthropic_budget(self) -> Option<u32> {
        match self {
            ReasoningEffort::None => None,
            ReasoningEffort::Minimal => Some(1024),
            ReasoningEffort::Low => Some(2048),
            ReasoningEffort::Medium => Some(8192),
            ReasoningEffort::High => Some(16384),
            ReasoningEffort::XHigh => Some(32000),
        }
    }
}

impl std::fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece of output as it streams in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamDelta {
    Text(String),
    Reasoning(String),
    /// The model started a tool call (its arguments are still streaming).
    ToolCallStarted {
        id: String,
        name: String,
    },
}

/// The complete result of one model call.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: String,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: FinishReason,
    /// The model that answered, as the server named it.
    pub model: Option<String>,
    /// Thinking blocks to replay with this answer on the next call of the same turn
    /// (Anthropic's extended thinking; empty elsewhere).
    pub thinking: Vec<ThinkingBlock>,
}

/// Something a provider call can fail with. [`ProviderError::is_retryable`] says whether
/// trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("the {provider} server refused the credentials (HTTP {status}): {message}; check {key_hint}")]
    Auth { provider: &'static str, status: u16, message: String, key_hint: &'static str },
    #[error("the {provider} server is rate limiting (HTTP 429){}: {message}", retry_after.map(|d| format!(", retry after {:.1}s", d.as_secs_f64())).unwrap_or_default())]
    RateLimited { provider: &'static str, retry_after: Option<Duration>, message: String },
    #[error("the {provider} server failed (HTTP {status}): {message}")]
    Server { provider: &'static str, status: u16, retry_after: Option<Duration>, message: String },
    #[error("the {provider} server rejected the request (HTTP {status}): {message}")]
    Rejected { provider: &'static str, status: u16, message: String },
    #[error("cannot reach the {provider} server at {url}: {detail}")]
    Connect { provider: &'static str, url: String, detail: String },
    #[error("the {provider} server did not answer within {}s", timeout.as_secs())]
    Timeout { provider: &'static str, timeout: Duration },
    #[error("the {provider} server sent a response herald cannot read: {detail}")]
    Malformed { provider: &'static str, detail: String },
    #[error("the {provider} stream ended before the answer was complete: {detail}")]
    StreamCut { provider: &'static str, detail: String },
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: Box<ProviderError> },
    #[error("the request was cancelled")]
    Cancelled,
}

impl ProviderError {
    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Connect { .. }
                | ProviderError::Timeout { .. }
                | ProviderError::StreamCut { .. }
        )
    }

    /// How long the server asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } | ProviderError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A connection to one LLM service.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and errors (`openai`, `anthropic`).
    fn name(&self) -> &'static str;

    /// Runs one model call. With `stream` true the answer is requested as a stream and
    /// every piece is passed to `on_delta` as it arrives; with `stream` false
    /// `on_delta` is not called. Either way the whole result is returned.
    ///
    /// Retries (429, 5xx, connection errors, honouring `Retry-After`) happen inside,
    /// but only before any delta has been passed on, so the caller never sees text twice.
    async fn complete(
        &self,
        request: &ChatRequest,
        stream: bool,
        on_delta: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::ReasoningEffort;

    #[test]
    fn reasoning_levels_parse_and_print() {
        for level in ReasoningEffort::ALL {
            assert_eq!(ReasoningEffort::parse(level.as_str()), Some(level));
            assert_eq!(level.to_string(), level.as_str());
        }
        assert_eq!(ReasoningEffort::parse("  XHigh "), Some(ReasoningEffort::XHigh));
        assert_eq!(ReasoningEffort::parse("None"), Some(ReasoningEffort::None));
        for bad in ["", "max", "extra-high", "hi", "medium high"] {
            assert_eq!(ReasoningEffort::parse(bad), None, "{bad:?}");
        }
        let names: Vec<&str> = ReasoningEffort::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(names, ["none", "minimal", "low", "medium", "high", "xhigh"]);
    }
}
