//! The seam between the gateway and a chat platform.
//!
//! An adapter turns platform traffic into [`Inbound`] values and [`OutboundOp`]s into
//! platform traffic, nothing else: it never sees the store, the agent or the runner.
//! What it can do is declared in [`Capabilities`], and the gateway's delivery stage
//! chooses how to stream an answer from those, never from the platform's name.
//!
//! Cancellation is by dropping: [`Adapter::run`] runs until its future is dropped (the
//! supervisor's shutdown) or it fails (the supervisor reconnects with backoff).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Platform, Source};

/// How a platform counts the length of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    /// UTF-16 code units (Telegram).
    Utf16,
    /// Unicode scalar values.
    Chars,
    /// UTF-8 bytes.
    Bytes,
}

impl LengthUnit {
    /// The length of `text` in this unit.
    pub fn len(self, text: &str) -> usize {
        match self {
            LengthUnit::Utf16 => text.encode_utf16().count(),
            LengthUnit::Chars => text.chars().count(),
            LengthUnit::Bytes => text.len(),
        }
    }
}

/// What an adapter can do. The delivery stage reads only this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The longest text message, in [`Capabilities::length_unit`].
    pub max_message_len: usize,
    pub length_unit: LengthUnit,
    /// Sent messages can be edited ([`OutboundOp::Edit`]).
    pub edit: bool,
    /// Sent messages can be deleted ([`OutboundOp::Delete`]).
    pub delete: bool,
    /// Native draft streaming ([`OutboundOp::Draft`]) in direct messages (Telegram
    /// `sendMessageDraft`).
    pub draft_in_dm: bool,
    /// A typing indicator ([`OutboundOp::Typing`]).
    pub typing: bool,
    /// Photos, documents, voice ([`OutboundOp::SendMedia`]).
    pub media: bool,
    /// When a turn-final edit is refused for flood control, send the missing tail at
    /// once instead of retrying the edit (Hermes `FALLBACK_ON_FINAL_EDIT_FLOOD`).
    pub fallback_on_final_edit_flood: bool,
}

/// A file that came with a message, already downloaded to the local cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: MediaKind,
    /// Where the file is in the cache.
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub size: u64,
    /// Text the platform already extracted (a voice note's transcription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

/// The kind of a media file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Voice,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Voice => "voice",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

/// The message a new message answers, when the user replied to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Whether the replied-to message was the bot's own.
    #[serde(default)]
    pub from_bot: bool,
}

/// One message from a platform, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    pub source: Source,
    /// The platform's id for the message, unique within the chat; the first duplicate
    /// check uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The text (or caption), with a leading `@botname` mention removed and a command's
    /// `@botname` suffix removed (`/new@herald_bot` becomes `/new`).
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyContext>,
    /// When the platform says the message was sent, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Whether the author is a bot.
    #[serde(default)]
    pub from_bot: bool,
}

/// Where an outbound operation goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub chat_id: String,
    #[serde(default)]
    pub chat_type: Option<crate::ChatType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Send as a reply to this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

impl Target {
    /// The target that answers a message from `source`.
    pub fn for_source(source: &Source) -> Option<Target> {
        Some(Target {
            chat_id: source.chat_id.clone()?,
            chat_type: Some(source.chat_type),
            thread_id: source.thread_id.clone(),
            reply_to: None,
        })
    }
}

/// How a text is meant to be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// Markdown from the model; the adapter converts it to the platform's formatting and
    /// falls back to plain text when the platform rejects the result.
    Markdown,
    Plain,
}

/// One thing to do on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OutboundOp {
    /// Sends a new text message (at most `max_message_len` long).
    Send {
        text: String,
        format: TextFormat,
    },
    /// Replaces the text of a message sent earlier.
    Edit {
        message_id: String,
        text: String,
        format: TextFormat,
    },
    Delete {
        message_id: String,
    },
    /// Shows or updates a native draft (`draft_id` is non-zero and stable for one answer).
    Draft {
        draft_id: u64,
        text: String,
    },
    Typing,
    /// Sends a local file.
    SendMedia {
        kind: MediaKind,
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
}

/// What a successful operation produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The id of the message sent or edited, when the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Set when the formatted text was refused and it went out as plain text.
    #[serde(default)]
    pub fell_back_to_plain: bool,
}

/// Why an operation failed, in the terms the delivery stage acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Flood control: wait at least this long before the next call to the chat.
    #[error("rate limited by the platform: retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The edit would not change the message (Telegram "message is not modified").
    #[error("the message is not modified")]
    NotModified,
    /// The text is longer than the platform allows.
    #[error("the message is too long: {0}")]
    TooLong(String),
    /// The message to edit or delete no longer exists or cannot be changed.
    #[error("the message cannot be changed: {0}")]
    MessageGone(String),
    /// Worth retrying later: network trouble, a 5xx answer, a timeout.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help: the chat is gone, the bot was blocked, the request is invalid.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The adapter cannot do this operation (see [`Capabilities`]).
    #[error("not supported by this platform: {0}")]
    Unsupported(&'static str),
}

impl SendError {
    /// Whether a later attempt of the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::RateLimited { .. } | SendError::Transient(_))
    }
}

/// Why an adapter's listener stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The credentials are refused or the configuration cannot work: reconnecting will
    /// not help until a person changes something. The message says what.
    #[error("{0}")]
    Fatal(String),
    /// The connection failed or dropped; the supervisor reconnects with backoff.
    #[error("{0}")]
    Disconnected(String),
}

/// Why the gateway did not take an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The message could not be recorded; the adapter must not advance its cursor, so the
    /// platform delivers it again.
    #[error("the message could not be recorded: {0}")]
    NotRecorded(String),
    /// The gateway is stopping; the adapter should stop without advancing its cursor.
    #[error("the gateway is stopping")]
    ShuttingDown,
}

/// What the gateway did with an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded durably; it will be answered (or was dropped by policy) even across a crash.
    Recorded,
    /// A copy of a message already recorded.
    Duplicate,
}

/// Where an adapter hands inbound messages. `deliver` resolves once the message is
/// durable, and only then may the adapter advance its platform cursor.
#[async_trait]
pub trait InboundSink: Send + Sync + 'static {
    async fn deliver(&self, message: Inbound) -> Result<Accepted, SinkError>;

    /// [`InboundSink::deliver`] for a batch the platform handed over at once, in order:
    /// the outcome of each, in the same order. The gateway records the batch in one
    /// write, so an adapter with many updates per poll waits once, not once per message.
    /// The adapter may advance its cursor past a message only when it and every message
    /// before it were accepted.
    async fn deliver_all(&self, messages: Vec<Inbound>) -> Vec<Result<Accepted, SinkError>> {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            out.push(self.deliver(m).await);
        }
        out
    }

    /// Tells the gateway the connection is up (after `getMe`, a websocket hello, ...).
    fn connected(&self, detail: Option<String>);

    /// Tells the gateway the adapter is still running but not receiving for a while
    /// (WeChat's expired-session pause); `reason` says why and what ends it. The next
    /// [`InboundSink::connected`] clears it.
    fn paused(&self, _reason: &str) {}
}

/// Small durable values an adapter keeps across restarts: a sync cursor, per-peer
/// context tokens. Keys are the adapter's own; the gateway namespaces them per platform
/// and account.
#[async_trait]
pub trait AdapterState: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<String>, String>;
    async fn put(&self, key: &str, value: &str) -> Result<(), String>;
}

/// A machine-wide identity an adapter's credential holds: two gateways must never run
/// one bot token (Hermes's scoped credential locks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// A short scope name, for example `telegram-bot-token`.
    pub scope: &'static str,
    /// The secret identity (the token); only its hash is ever written anywhere.
    pub identity: String,
}

/// A connection to one chat platform account.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    fn platform(&self) -> Platform;

    fn capabilities(&self) -> Capabilities;

    /// The credential that must be locked machine-wide while the adapter runs.
    fn credential_scope(&self) -> Option<CredentialScope> {
        None
    }

    /// Connects and listens, handing every message to `sink`, until the future is
    /// dropped or the connection fails. It returns `Ok(())` only when the platform
    /// ended the session cleanly.
    async fn run(&self, sink: Arc<dyn InboundSink>) -> Result<(), AdapterError>;

    /// Splits a whole answer into the messages this platform shows best (WeChat's
    /// compact bubbles), each within `max_message_len`, with the platform's own text
    /// rewriting applied. `None` means the gateway's generic split at the length limit.
    /// The delivery stage queues one outbox entry per part, as [`TextFormat::Plain`]
    /// (the parts are final), so a failure part-way resends only what did not arrive.
    fn split_text(&self, _text: &str) -> Option<Vec<String>> {
        None
    }

    /// Performs one operation. Rate limits and formatting fallbacks are reported, not
    /// hidden: the delivery stage decides what to do next.
    async fn send(&self, target: &Target, op: &OutboundOp) -> Result<Sent, SendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_in_the_platforms_unit() {
        let text = "a😀é";
        assert_eq!(LengthUnit::Utf16.len(text), 4);
        assert_eq!(LengthUnit::Chars.len(text), 3);
        assert_eq!(LengthUnit::Bytes.len(text), 7);
    }

    #[test]
    fn outbound_ops_serialise_with_a_tag() {
        let op = OutboundOp::Send { text: "hi".into(), format: TextFormat::Markdown };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, r#"{"op":"send","text":"hi","format":"markdown"}"#);
        assert_eq!(serde_json::from_str::<OutboundOp>(&json).unwrap(), op);
    }

    #[test]
    fn only_rate_limits_and_transient_failures_are_retryable() {
        assert!(SendError::RateLimited { retry_after: Duration::from_secs(1) }.is_retryable());
        assert!(SendError::Transient("503".into()).is_retryable());
        assert!(!SendError::Permanent("blocked".into()).is_retryable());
        assert!(!SendError::NotModified.is_retryable());
    }
}
