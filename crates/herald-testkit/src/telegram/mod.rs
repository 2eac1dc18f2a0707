//! A fake Telegram Bot API server on 127.0.0.1 that enforces Telegram's rules.
//!
//! ```no_run
//! # async fn demo() {
//! use herald_testkit::telegram::{FakeTelegram, TgUser};
//!
//! let tg = FakeTelegram::start().await;
//! // Point the bot at tg.base_url() with tg.token().
//! let alice = TgUser::new(1001, "Alice");
//! tg.private_text(&alice, "hello");
//! // …run the bot…
//! assert!(tg.wait_until(|v| !v.texts(1001).is_empty(), std::time::Duration::from_secs(10)).await);
//! # }
//! ```
//!
//! Served: `/bot<token>/<method>` (GET with a query, POST with JSON, form or multipart)
//! for `getMe`, `getUpdates`, `setWebhook`, `deleteWebhook`, `getWebhookInfo`,
//! `sendMessage`, `editMessageText`, `deleteMessage`, `sendMessageDraft`,
//! `sendChatAction`, `sendPhoto`, `sendDocument`, `sendVoice` (and `sendAudio`,
//! `sendVideo`, `sendSticker`), `getFile`, `setMyCommands`, `getMyCommands`,
//! `deleteMyCommands`; `/file/bot<token>/<file_path>` for downloads. Answers use the
//! real envelope. Rules enforced: 401 for a wrong token, 404 for an unknown method,
//! the 4096 UTF-16 unit limit after entity parsing, empty texts, MarkdownV2 parsing
//! ([`markdown`]), "message is not modified", edits of missing messages, per-chat flood
//! control ([`RateLimit`]), `getUpdates` offsets, long polling and its 409 conflicts
//! (a webhook is set; a newer poll superseded this one), `allowed_updates`.
//!
//! Not modelled: the `HTML` and legacy `Markdown` parse modes (refused with a 400 that
//! says so), inline mode, pushing updates to a webhook URL (a set webhook only blocks
//! `getUpdates`; tests post updates to the bot's webhook listener themselves), the
//! global 30 messages/s limit.
//!
//! The control interface is this handle and, for other processes, [`control`].

pub mod control;
mod harness;
mod inject;
pub mod markdown;
mod methods;
mod params;
mod server;
mod state;
mod types;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

pub use harness::TelegramHarness;
pub use inject::auto_entities;
pub use markdown::Entity;
pub use methods::{MAX_CAPTION_LEN, MAX_TEXT_LEN};
pub use types::{
    Call, ChatInfo, ChatMessage, Draft, Fault, FileInfo, IncomingMedia, IncomingMessage, Injected, RateLimit, TgUser,
    WebhookInfo,
};

use state::{Shared, State};

/// How a [`FakeTelegram`] is set up.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The one token the server accepts.
    pub token: String,
    /// The bot `getMe` describes.
    pub bot_id: i64,
    pub bot_username: String,
    pub bot_name: String,
    /// Per-chat flood control; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            port: 0,
            token: "123456789:TEST-fake-telegram-token".into(),
            bot_id: 123_456_789,
            bot_username: "herald_test_bot".into(),
            bot_name: "Herald Test".into(),
            rate_limit: Some(RateLimit::default()),
        }
    }
}

/// A read-only view of the server's state, for [`FakeTelegram::wait_until`].
pub struct View<'a> {
    state: &'a State,
}

impl View<'_> {
    /// The bot's messages in a chat (deleted ones too, marked), oldest first.
    pub fn messages(&self, chat_id: i64) -> Vec<ChatMessage> {
        self.state.bot_messages(chat_id)
    }

    /// The current texts of the bot's text messages in a chat that are not deleted.
    pub fn texts(&self, chat_id: i64) -> Vec<String> {
        self.messages(chat_id).into_iter().filter(|m| !m.deleted).filter_map(|m| m.text).collect()
    }

    pub fn calls(&self) -> &[Call] {
        &self.state.calls
    }

    pub fn calls_of(&self, method: &str) -> Vec<&Call> {
        self.state.calls.iter().filter(|c| c.method.eq_ignore_ascii_case(method)).collect()
    }

    pub fn pending_updates(&self) -> usize {
        self.state.updates.len()
    }

    /// `getUpdates` calls being answered now (long polls waiting for news).
    pub fn waiting_polls(&self) -> usize {
        self.state.waiting_polls
    }

    pub fn drafts(&self, chat_id: i64) -> Vec<Draft> {
        self.state.chats.get(&chat_id).map(|c| c.drafts.clone()).unwrap_or_default()
    }

    pub fn actions(&self, chat_id: i64) -> Vec<String> {
        self.state.chats.get(&chat_id).map(|c| c.actions.clone()).unwrap_or_default()
    }
}

/// A running fake Telegram server. Dropping the handle (or [`shutdown`](Self::shutdown))
/// stops it; open long polls answer an empty list.
pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FakeTelegram {
    /// Starts a server with default options on an ephemeral port.
    ///
    /// # Panics
    /// If no port on 127.0.0.1 can be bound.
    pub async fn start() -> FakeTelegram {
        match Self::start_with(FakeOptions::default()).await {
            Ok(tg) => tg,
            Err(err) => panic!("herald-testkit: cannot bind 127.0.0.1:0 for the fake Telegram server: {err}"),
        }
    }

    /// Starts a server with these options on the current tokio runtime.
    pub async fn start_with(options: FakeOptions) -> io::Result<FakeTelegram> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let addr = listener.local_addr()?;
        let bot = TgUser {
            id: options.bot_id,
            first_name: options.bot_name,
            last_name: None,
            username: Some(options.bot_username),
            is_bot: true,
        };
        let shared = Arc::new(Shared::new(options.token, bot, options.rate_limit));
        let app = server::router(Arc::clone(&shared));
        let stop = shared.stop.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(err) = serve.await {
                tracing::debug!(%err, "fake Telegram server stopped with an error");
            }
        });
        Ok(FakeTelegram { shared, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the value for `TELEGRAM_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The bot as `getMe` describes it.
    pub fn bot(&self) -> &TgUser {
        &self.shared.bot
    }

    /// Queues a raw update (given the next `update_id` unless it has one). The chats it
    /// names become known.
    pub fn push_update(&self, update: Value) -> i64 {
        self.shared.update(|s| s.push_update(update))
    }

    /// Queues a user's message.
    ///
    /// # Panics
    /// If its media names a file never added with [`add_file`](Self::add_file).
    pub fn push_message(&self, message: &IncomingMessage) -> Injected {
        match self.shared.update(|s| inject::push_message(s, &self.shared.bot, message)) {
            Ok(i) => i,
            Err(e) => panic!("herald-testkit: {}", e.description),
        }
    }

    /// A text from `user` in their private chat with the bot.
    pub fn private_text(&self, user: &TgUser, text: &str) -> Injected {
        self.push_message(&IncomingMessage::text(ChatInfo::private(user), user, text))
    }

    /// A text from `user` in a group.
    pub fn group_text(&self, chat_id: i64, title: &str, user: &TgUser, text: &str) -> Injected {
        self.push_message(&IncomingMessage::text(ChatInfo::group(chat_id, title), user, text))
    }

    /// Stores a file the bot can fetch with `getFile` and download.
    pub fn add_file(&self, bytes: impl Into<Bytes>, file_name: Option<&str>, mime_type: Option<&str>) -> FileInfo {
        let dir = match mime_type {
            Some(m) if m.starts_with("image/") => "photos",
            Some(m) if m.starts_with("audio/ogg") => "voice",
            _ => "documents",
        };
        self.shared
            .update(|s| s.add_file(bytes.into(), file_name.map(str::to_string), mime_type.map(str::to_string), dir))
    }

    /// A photo (with an optional caption) from `user` in their private chat.
    pub fn private_photo(&self, user: &TgUser, jpeg: impl Into<Bytes>, caption: Option<&str>) -> (Injected, FileInfo) {
        let file = self.add_file(jpeg, None, Some("image/jpeg"));
        self.private_media(user, IncomingMedia::Photo(file.file_id.clone()), caption, file)
    }

    /// A document from `user` in their private chat.
    pub fn private_document(
        &self,
        user: &TgUser,
        bytes: impl Into<Bytes>,
        file_name: &str,
        mime_type: &str,
        caption: Option<&str>,
    ) -> (Injected, FileInfo) {
        let file = self.add_file(bytes, Some(file_name), Some(mime_type));
        self.private_media(user, IncomingMedia::Document(file.file_id.clone()), caption, file)
    }

    /// A voice note (OGG/Opus bytes) from `user` in their private chat.
    pub fn private_voice(&self, user: &TgUser, ogg: impl Into<Bytes>) -> (Injected, FileInfo) {
        let file = self.add_file(ogg, None, Some("audio/ogg"));
        self.private_media(user, IncomingMedia::Voice(file.file_id.clone()), None, file)
    }

    fn private_media(
        &self,
        user: &TgUser,
        media: IncomingMedia,
        caption: Option<&str>,
        file: FileInfo,
    ) -> (Injected, FileInfo) {
        let mut m = IncomingMessage::text(ChatInfo::private(user), user, "");
        m.text = None;
        m.caption = caption.map(str::to_string);
        m.media = Some(media);
        (self.push_message(&m), file)
    }

    /// Makes a chat known without a message in it (the user "started" the bot).
    pub fn add_chat(&self, chat: &ChatInfo) {
        self.shared.update(|s| {
            s.chat_mut(chat);
        });
    }

    /// Runs `f` on a view of the state.
    pub fn view<T>(&self, f: impl FnOnce(&View<'_>) -> T) -> T {
        let state = self.shared.lock();
        f(&View { state: &state })
    }

    /// The bot's messages in a chat, oldest first (deleted ones marked).
    pub fn messages(&self, chat_id: i64) -> Vec<ChatMessage> {
        self.view(|v| v.messages(chat_id))
    }

    /// The current texts of the bot's live text messages in a chat.
    pub fn texts(&self, chat_id: i64) -> Vec<String> {
        self.view(|v| v.texts(chat_id))
    }

    pub fn drafts(&self, chat_id: i64) -> Vec<Draft> {
        self.view(|v| v.drafts(chat_id))
    }

    pub fn actions(&self, chat_id: i64) -> Vec<String> {
        self.view(|v| v.actions(chat_id))
    }

    /// Every Bot API call with a valid token, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.view(|v| v.calls_of(method).into_iter().cloned().collect())
    }

    /// Updates not yet confirmed by an `offset`.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    pub fn webhook(&self) -> Option<WebhookInfo> {
        self.shared.lock().webhook.clone()
    }

    /// What `setMyCommands` set for the default scope and no language.
    pub fn commands(&self) -> Option<Value> {
        self.shared.lock().commands.get(&(r#"{"type":"default"}"#.to_string(), String::new())).cloned()
    }

    /// Replaces the flood control (`None`: off). Earlier calls still count.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.update(|s| s.rate_limit = limit);
    }

    /// Forgets the calls counted for flood control in every chat.
    pub fn reset_rate_counters(&self) {
        self.shared.update(|s| s.chats.values_mut().for_each(|c| c.counted.clear()));
    }

    /// The next `count` calls of `method` (any case) answer `fault` instead of working.
    pub fn fail_next(&self, method: &str, count: usize, fault: Fault) {
        self.shared.update(|s| {
            s.faults.entry(method.to_ascii_lowercase()).or_default().extend(std::iter::repeat_n(fault, count))
        });
    }

    /// Waits until `done` holds for the state (checked at once and after every change).
    /// Returns `false` if `within` passes first.
    pub async fn wait_until(&self, mut done: impl FnMut(&View<'_>) -> bool, within: Duration) -> bool {
        crate::changes::wait_until(&self.shared.changed, || self.view(&mut done), within).await
    }

    /// Stops the server. Also done on drop.
    pub fn shutdown(&self) {
        self.shared.stop.cancel();
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram").field("addr", &self.addr).finish_non_exhaustive()
    }
}
