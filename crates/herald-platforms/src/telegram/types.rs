//! The parts of the Bot API's JSON objects herald reads. Unknown fields are ignored;
//! every field Telegram documents as optional is an `Option`, so a missing one is not
//! an error, while a missing required one (an update without `update_id`, a message
//! without `chat`) fails deserialisation and the update is skipped.

use serde::Deserialize;

/// `Update` (https://core.telegram.org/bots/api#update).
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub channel_post: Option<Message>,
}

/// `Message`.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: i64,
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    #[serde(default)]
    pub from: Option<User>,
    pub date: i64,
    pub chat: Chat,
    #[serde(default)]
    pub is_topic_message: Option<bool>,
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub entities: Option<Vec<MessageEntity>>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub caption_entities: Option<Vec<MessageEntity>>,
    #[serde(default)]
    pub photo: Option<Vec<PhotoSize>>,
    #[serde(default)]
    pub voice: Option<FileMeta>,
    #[serde(default)]
    pub audio: Option<FileMeta>,
    #[serde(default)]
    pub video: Option<FileMeta>,
    #[serde(default)]
    pub video_note: Option<FileMeta>,
    #[serde(default)]
    pub document: Option<FileMeta>,
    #[serde(default)]
    pub sticker: Option<FileMeta>,
    /// Present on the service message that opened a forum topic; every message in the
    /// topic "replies" to it, which is not a reply the user made.
    #[serde(default)]
    pub forum_topic_created: Option<serde::de::IgnoredAny>,
}

/// `Chat`.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub is_forum: Option<bool>,
}

/// `User`.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

impl User {
    /// "First Last", or the username when the names are empty.
    pub fn display_name(&self) -> Option<String> {
        let full = match &self.last_name {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        };
        let full = full.trim().to_string();
        if full.is_empty() { self.username.clone() } else { Some(full) }
    }
}

/// `MessageEntity`; offsets and lengths are UTF-16 code units.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: i64,
    pub length: i64,
    #[serde(default)]
    pub user: Option<User>,
}

/// `PhotoSize`.
#[derive(Debug, Clone, Deserialize)]
pub struct PhotoSize {
    pub file_id: String,
    #[serde(default)]
    pub file_unique_id: Option<String>,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// The common part of `Voice`, `Audio`, `Video`, `VideoNote`, `Document`, `Sticker`.
#[derive(Debug, Clone, Deserialize)]
pub struct FileMeta {
    pub file_id: String,
    #[serde(default)]
    pub file_unique_id: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
}

/// `File`, the answer of `getFile`.
#[derive(Debug, Clone, Deserialize)]
pub struct File {
    #[serde(default)]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub file_path: Option<String>,
}

/// The part of `User` `getMe` answers that herald needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub id: i64,
    #[serde(default)]
    pub username: Option<String>,
}

/// A sent or edited `Message`, reduced to its id.
#[derive(Debug, Clone, Deserialize)]
pub struct SentMessage {
    pub message_id: i64,
}

/// `editMessageText` answers a `Message`, or `true` for inline messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EditResult {
    Message(SentMessage),
    Done(bool),
}
