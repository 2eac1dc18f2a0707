//! The values that cross the [`crate::Store`] API.

use herald_core::{Message, Role, Usage};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type TimestampMs = i64;

/// What is needed to open a new session.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// A caller-chosen id (the API server's `api-<16 hex>`, a client's own id); `None`
    /// draws a fresh `YYYYmmdd_HHMMSS_<8 hex>`. At most [`MAX_SESSION_ID_LEN`] characters,
    /// no path separators, `..`, drive prefixes or control characters; an id already in
    /// use is [`StoreError::SessionExists`].
    pub id: Option<String>,
    /// The routing key (`agent:main:telegram:dm:99`); `None` for sessions not reached by routing.
    pub key: Option<String>,
    /// The platform value (`local`, `telegram`, `api_server`, ...).
    pub platform: String,
    /// The chat type value (`dm`, `group`, ...), if known.
    pub chat_type: Option<String>,
    /// The origin `Source` serialised as JSON, kept verbatim for delivery and display.
    /// Must parse as JSON.
    pub origin_json: Option<String>,
    pub display_name: Option<String>,
    pub title: Option<String>,
    pub model: Option<String>,
    /// The system prompt the session was opened with (an API client's, for example).
    pub system_prompt: Option<String>,
    /// The session this one was forked or rolled over from; it must exist.
    pub parent_session_id: Option<String>,
}

/// The longest session id accepted, as in Hermes's `X-Hermes-Session-Id` check.
pub const MAX_SESSION_ID_LEN: usize = 256;

/// The lifecycle flags of Hermes's `SessionEntry` (reference §3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFlags {
    pub suspended: bool,
    pub resume_pending: bool,
    pub resume_reason: Option<String>,
    pub last_resume_marked_at: Option<TimestampMs>,
    pub is_fresh_reset: bool,
    pub was_auto_reset: bool,
    pub auto_reset_reason: Option<String>,
    pub reset_had_activity: bool,
    pub expiry_finalized: bool,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub key: Option<String>,
    pub platform: String,
    pub chat_type: Option<String>,
    pub origin_json: Option<String>,
    pub display_name: Option<String>,
    pub title: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    /// JSON with only `model`, `provider`, `base_url`: never credentials.
    pub model_override: Option<String>,
    pub parent_session_id: Option<String>,
    pub created_at: TimestampMs,
    /// Last conversation activity: creation or the latest appended turn. Patches and
    /// ending a session leave it alone, so idle-reset policies can rely on it.
    pub updated_at: TimestampMs,
    pub ended_at: Option<TimestampMs>,
    pub end_reason: Option<String>,
    pub message_count: u64,
    pub tool_call_count: u64,
    pub usage: Usage,
    /// Input tokens of the most recent model call: how full the context is.
    pub last_prompt_tokens: u64,
    pub flags: SessionFlags,
}

/// A partial update of a session. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    pub title: Option<Option<String>>,
    /// JSON object with only `model`, `provider`, `base_url`; anything else is rejected
    /// as [`StoreError::InvalidInput`] so credentials cannot end up in the database.
    pub model_override: Option<Option<String>>,
    pub suspended: Option<bool>,
    pub resume_pending: Option<bool>,
    pub resume_reason: Option<Option<String>>,
    pub last_resume_marked_at: Option<Option<TimestampMs>>,
    pub is_fresh_reset: Option<bool>,
    pub was_auto_reset: Option<bool>,
    pub auto_reset_reason: Option<Option<String>>,
    pub reset_had_activity: Option<bool>,
    pub expiry_finalized: Option<bool>,
    pub last_prompt_tokens: Option<u64>,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message: Message,
    pub token_count: Option<u64>,
    pub finish_reason: Option<String>,
    /// The platform's id for the message, when it came from or went to a platform.
    pub platform_message_id: Option<String>,
}

impl From<Message> for NewMessage {
    fn from(message: Message) -> Self {
        NewMessage { message, token_count: None, finish_reason: None, platform_message_id: None }
    }
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: i64,
    pub session_id: String,
    pub message: Message,
    pub timestamp: TimestampMs,
    pub token_count: Option<u64>,
    pub finish_reason: Option<String>,
    pub platform_message_id: Option<String>,
}

/// Which sessions to list.
#[derive(Debug, Clone)]
pub struct SessionListQuery {
    pub limit: u32,
    pub offset: u32,
    /// Only sessions of this platform value.
    pub platform: Option<String>,
    /// Also list sessions forked or rolled over from another (those with a parent).
    pub include_children: bool,
}

impl Default for SessionListQuery {
    fn default() -> Self {
        SessionListQuery { limit: 50, offset: 0, platform: None, include_children: true }
    }
}

/// One page of [`crate::Store::list_sessions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionList {
    pub sessions: Vec<SessionRecord>,
    /// More sessions match beyond this page.
    pub has_more: bool,
}

/// What [`crate::Store::open_turn`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedTurn {
    /// The session after the messages were appended.
    pub session: SessionRecord,
    /// The session did not exist and was created by this call.
    pub created: bool,
    /// The ids of the appended messages, in order.
    pub message_ids: Vec<i64>,
}

/// How search text is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Whole words (the word index), then substrings (the trigram index) to fill the limit.
    #[default]
    Auto,
    /// Whole words only: every word must appear; a trailing `*` matches a prefix.
    /// Best match first (bm25), then newest.
    Words,
    /// The text anywhere, including inside words, ignoring case (three characters or
    /// more use the trigram index; shorter text is scanned). Newest first.
    Substring,
}

/// A full-text search.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// What to look for; surrounding whitespace is ignored.
    pub text: String,
    pub mode: SearchMode,
    /// At most this many hits; `0` returns none.
    pub limit: u32,
    /// Only within this session.
    pub session_id: Option<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub session_id: String,
    pub message_id: i64,
    pub role: Role,
    /// A short excerpt around the match, with the match wrapped in `[` `]`.
    pub snippet: String,
    pub timestamp: TimestampMs,
    pub session_title: Option<String>,
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("database migration {version} failed: {reason}; the database was left at the previous version")]
    Migration { version: u32, reason: String },
    #[error(
        "the database at {path} was written by a newer herald (schema {found}, this build knows {known}); upgrade herald"
    )]
    TooNew { path: String, found: u32, known: u32 },
    #[error("no session with id `{0}`")]
    SessionNotFound(String),
    #[error("a session with id `{0}` already exists")]
    SessionExists(String),
    #[error("no inbound message with id {0}")]
    InboundNotFound(i64),
    #[error("no outbound message with id {0}")]
    OutboundNotFound(i64),
    #[error("outbound message {id} is {found}, so it cannot be {action}")]
    WrongOutboundState { id: i64, found: crate::OutboundState, action: &'static str },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store's writer has stopped; restart herald")]
    WriterGone,
}
