//! The values tests hand to the fake server and read back from it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::markdown::Entity;

/// A Telegram user, as the `from` of injected messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgUser {
    pub id: i64,
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default)]
    pub is_bot: bool,
}

impl TgUser {
    pub fn new(id: i64, first_name: impl Into<String>) -> TgUser {
        TgUser { id, first_name: first_name.into(), last_name: None, username: None, is_bot: false }
    }

    pub fn with_username(mut self, username: impl Into<String>) -> TgUser {
        self.username = Some(username.into());
        self
    }

    /// The Bot API `User` object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name});
        if let Some(l) = &self.last_name {
            v["last_name"] = json!(l);
        }
        if let Some(u) = &self.username {
            v["username"] = json!(u);
        }
        v
    }
}

/// A chat, as the Bot API's `Chat` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatInfo {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_forum: Option<bool>,
}

impl ChatInfo {
    /// The private chat with `user` (its id is the user's id, as on Telegram).
    pub fn private(user: &TgUser) -> ChatInfo {
        ChatInfo {
            id: user.id,
            kind: "private".into(),
            title: None,
            username: user.username.clone(),
            first_name: Some(user.first_name.clone()),
            last_name: user.last_name.clone(),
            is_forum: None,
        }
    }

    /// A group (`supergroup` when `id` looks like one, `-100...`).
    pub fn group(id: i64, title: impl Into<String>) -> ChatInfo {
        let kind = if id <= -1_000_000_000_000 { "supergroup" } else { "group" };
        ChatInfo {
            id,
            kind: kind.into(),
            title: Some(title.into()),
            username: None,
            first_name: None,
            last_name: None,
            is_forum: None,
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({"id": self.id, "type": self.kind}))
    }
}

/// A file attached to an injected message (added with [`super::FakeTelegram::add_file`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub file_id: String,
    pub file_unique_id: String,
    pub file_size: u64,
    /// The path `getFile` answers; download at `/file/bot<token>/<file_path>`.
    pub file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// The media of an injected message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncomingMedia {
    Photo(String),
    Document(String),
    Voice(String),
}

/// A message a user sends to the bot, turned into an `Update` by
/// [`super::FakeTelegram::push_message`]. Also the JSON body of
/// `POST /_control/message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingMessage {
    pub chat: ChatInfo,
    #[serde(default)]
    pub from: Option<TgUser>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    /// A `file_id` from `add_file` and what it is.
    #[serde(default)]
    pub media: Option<IncomingMedia>,
    #[serde(default)]
    pub reply_to_message_id: Option<i64>,
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Unix seconds; now when absent.
    #[serde(default)]
    pub date: Option<i64>,
}

impl IncomingMessage {
    pub fn text(chat: ChatInfo, from: &TgUser, text: impl Into<String>) -> IncomingMessage {
        IncomingMessage {
            chat,
            from: Some(from.clone()),
            text: Some(text.into()),
            caption: None,
            media: None,
            reply_to_message_id: None,
            message_thread_id: None,
            date: None,
        }
    }
}

/// What an injection produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    pub update_id: i64,
    pub chat_id: i64,
    /// The message id, when the update is a message.
    pub message_id: Option<i64>,
}

/// A message in a chat as the fake server holds it now: what the bot sent (and later
/// edited or deleted), or what a user sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub message_id: i64,
    pub chat_id: i64,
    /// Sent by the bot (the rest came from injected updates).
    pub from_bot: bool,
    /// `text`, `photo`, `document` or `voice`.
    pub kind: String,
    /// The visible text after entity parsing (`None` for media).
    pub text: Option<String>,
    pub entities: Vec<Entity>,
    pub caption: Option<String>,
    /// The `parse_mode` of the last send or edit.
    pub parse_mode: Option<String>,
    pub file_id: Option<String>,
    pub reply_to_message_id: Option<i64>,
    pub message_thread_id: Option<i64>,
    /// Earlier texts, oldest first; one per successful edit.
    pub edits: Vec<String>,
    pub deleted: bool,
    pub date: i64,
}

/// One `sendMessageDraft` the bot made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub draft_id: i64,
    pub text: String,
    pub message_thread_id: Option<i64>,
}

/// One Bot API call, as the server saw and answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// The method as the client spelled it.
    pub method: String,
    /// The parameters, whatever the encoding (query, form, JSON, multipart); uploaded
    /// files appear as `{"file_name", "size"}`.
    pub params: Value,
    /// The chat the call named, when it named one by number.
    pub chat_id: Option<i64>,
    pub status: u16,
    /// The whole answer envelope.
    pub response: Value,
}

impl Call {
    pub fn ok(&self) -> bool {
        self.response.get("ok").and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn description(&self) -> Option<&str> {
        self.response.get("description").and_then(Value::as_str)
    }
}

/// An error the server answers instead of doing the work ([`super::FakeTelegram::fail_next`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub error_code: u16,
    pub description: String,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

impl Fault {
    pub fn new(error_code: u16, description: impl Into<String>) -> Fault {
        Fault { error_code, description: description.into(), retry_after: None }
    }

    /// Telegram's flood-control answer.
    pub fn too_many_requests(retry_after: u64) -> Fault {
        Fault {
            error_code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
}

/// Per-chat flood control: at most `max_calls` of the counted methods (sends and
/// edits: `sendMessage`, `editMessageText`, `sendPhoto`, `sendDocument`, `sendVoice`
/// and the other `send*` uploads) to one chat within any `window`. A call over the
/// limit is answered 429 with `retry_after` = the seconds until the oldest counted call
/// leaves the window (at least 1), and is not counted itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub max_calls: usize,
    #[serde(rename = "window_ms", with = "millis")]
    pub window: Duration,
}

impl RateLimit {
    pub fn new(max_calls: usize, window: Duration) -> RateLimit {
        RateLimit { max_calls, window }
    }
}

impl Default for RateLimit {
    /// Telegram asks for about one message per second per chat and tolerates short
    /// bursts: ten within any ten seconds.
    fn default() -> Self {
        RateLimit { max_calls: 10, window: Duration::from_secs(10) }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The webhook as `setWebhook` left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub url: String,
    pub secret_token: Option<String>,
    pub allowed_updates: Option<Vec<String>>,
    pub max_connections: Option<i64>,
}
