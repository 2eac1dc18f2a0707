//! Everything the fake server knows, behind one lock, and the notification that wakes
//! long polls and waiting tests when it changes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::types::{Call, ChatInfo, ChatMessage, Draft, Fault, FileInfo, RateLimit, TgUser, WebhookInfo};

/// Telegram's cap on files a bot may download (`getFile`).
pub const MAX_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// One chat: its `Chat` object and the messages in it.
#[derive(Debug)]
pub struct Chat {
    pub info: ChatInfo,
    pub next_message_id: i64,
    pub messages: BTreeMap<i64, ChatMessage>,
    pub actions: Vec<String>,
    pub drafts: Vec<Draft>,
    /// When counted calls to this chat happened, for the rate limit.
    pub counted: VecDeque<Instant>,
}

impl Chat {
    fn new(info: ChatInfo) -> Chat {
        Chat {
            info,
            next_message_id: 1,
            messages: BTreeMap::new(),
            actions: Vec::new(),
            drafts: Vec::new(),
            counted: VecDeque::new(),
        }
    }

    pub fn allocate_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }
}

/// A stored file.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub info: FileInfo,
    pub bytes: Bytes,
}

#[derive(Debug, Default)]
pub struct State {
    /// Updates not yet confirmed by an `offset`, in `update_id` order.
    pub updates: VecDeque<Value>,
    pub next_update_id: i64,
    /// The last `allowed_updates` a `getUpdates` or `setWebhook` named.
    pub allowed_updates: Option<Vec<String>>,
    /// Bumped by every `getUpdates`; an older long poll that sees a newer generation
    /// answers 409, as Telegram ends a poll superseded by another.
    pub poll_generation: u64,
    /// `getUpdates` calls waiting for news now.
    pub waiting_polls: usize,
    pub webhook: Option<WebhookInfo>,
    pub chats: BTreeMap<i64, Chat>,
    pub files: HashMap<String, StoredFile>,
    pub next_file: u64,
    pub calls: Vec<Call>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub rate_limit: Option<RateLimit>,
    /// `setMyCommands` by `(scope JSON, language_code)`.
    pub commands: BTreeMap<(String, String), Value>,
}

impl State {
    pub fn chat_mut(&mut self, info: &ChatInfo) -> &mut Chat {
        let chat = self.chats.entry(info.id).or_insert_with(|| Chat::new(info.clone()));
        // A later update may carry a newer title or username.
        chat.info = info.clone();
        chat
    }

    /// Appends an update, giving it the next `update_id` unless it has one.
    pub fn push_update(&mut self, mut update: Value) -> i64 {
        let id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => {
                self.next_update_id = self.next_update_id.max(id + 1);
                id
            }
            None => {
                let id = self.next_update_id;
                self.next_update_id += 1;
                update["update_id"] = json!(id);
                id
            }
        };
        // Chats an update names exist from then on, so the bot may answer there.
        for key in ["message", "edited_message", "channel_post", "edited_channel_post"] {
            if let Some(chat) = update.get(key).and_then(|m| m.get("chat"))
                && let Ok(info) = serde_json::from_value::<ChatInfo>(chat.clone())
            {
                let message_id = update[key].get("message_id").and_then(Value::as_i64);
                let chat = self.chat_mut(&info);
                if let Some(mid) = message_id {
                    chat.next_message_id = chat.next_message_id.max(mid + 1);
                }
            }
        }
        let pos = self.updates.partition_point(|u| u["update_id"].as_i64().unwrap_or(0) < id);
        self.updates.insert(pos, update);
        id
    }

    pub fn add_file(
        &mut self,
        bytes: Bytes,
        file_name: Option<String>,
        mime_type: Option<String>,
        dir: &str,
    ) -> FileInfo {
        self.next_file += 1;
        let n = self.next_file;
        let ext = file_name
            .as_deref()
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase())
            .filter(|e| (1..=8).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| default_ext(dir).to_string());
        let info = FileInfo {
            // Real ids are long opaque strings; these are recognisable in failures.
            file_id: format!("AgAC-fake-file-{n}"),
            file_unique_id: format!("AQAD{n}"),
            file_size: bytes.len() as u64,
            file_path: format!("{dir}/file_{n}.{ext}"),
            file_name,
            mime_type,
        };
        self.files.insert(info.file_id.clone(), StoredFile { info: info.clone(), bytes });
        info
    }

    /// The bot's messages of a chat.
    pub fn bot_messages(&self, chat_id: i64) -> Vec<ChatMessage> {
        self.chats
            .get(&chat_id)
            .map(|c| c.messages.values().filter(|m| m.from_bot).cloned().collect())
            .unwrap_or_default()
    }

    /// Takes the next injected fault for `method`, if any.
    pub fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let queue = self.faults.get_mut(&method.to_ascii_lowercase())?;
        let fault = queue.pop_front();
        if queue.is_empty() {
            self.faults.remove(&method.to_ascii_lowercase());
        }
        fault
    }
}

fn default_ext(dir: &str) -> &'static str {
    match dir {
        "photos" => "jpg",
        "voice" => "oga",
        _ => "bin",
    }
}

/// The state shared by the server's tasks and the test's handle.
pub struct Shared {
    pub token: String,
    pub bot: TgUser,
    state: Mutex<State>,
    /// Woken (all waiters) on every change.
    pub changed: Notify,
    pub stop: CancellationToken,
}

impl Shared {
    pub fn new(token: String, bot: TgUser, rate_limit: Option<RateLimit>) -> Shared {
        let state = State { next_update_id: 1, rate_limit, ..State::default() };
        Shared { token, bot, state: Mutex::new(state), changed: Notify::new(), stop: CancellationToken::new() }
    }

    /// The state; a panic while holding the lock cannot leave it half-written in a
    /// way worse than the test already failing, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state and wakes every waiter.
    pub fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.notify_waiters();
        out
    }
}
