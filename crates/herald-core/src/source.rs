//! Where a message came from.

use serde::{Deserialize, Serialize};

use crate::Platform;

/// The kind of chat, normalised across platforms (Telegram `private` becomes `Dm`, etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    Dm,
    Group,
    Channel,
    Thread,
    Forum,
}

impl ChatType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::Dm => "dm",
            ChatType::Group => "group",
            ChatType::Channel => "channel",
            ChatType::Thread => "thread",
            ChatType::Forum => "forum",
        }
    }
}

/// The origin of an inbound message: Hermes's `SessionSource`, minus fields no herald
/// component reads yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub platform: Platform,
    pub chat_type: ChatType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id_alt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl Source {
    /// A direct-message source with the given chat id.
    pub fn dm(platform: Platform, chat_id: impl Into<String>) -> Self {
        Source {
            platform,
            chat_type: ChatType::Dm,
            chat_id: Some(chat_id.into()),
            chat_name: None,
            user_id: None,
            user_name: None,
            thread_id: None,
            user_id_alt: None,
            profile: None,
        }
    }
}
