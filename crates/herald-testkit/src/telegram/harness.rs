//! The conformance harness over the fake Telegram server.
//!
//! User `n` is Telegram user `1000 + n` named "User n" (their private chat has the same
//! id, as on Telegram); group `g` is the basic group `-(5000 + g)`.

use std::sync::Mutex;

use async_trait::async_trait;
use herald_core::ChatType;

use super::{ChatInfo, FakeTelegram, RateLimit, TgUser};
use crate::conformance::{ConformanceHarness, Expected, SentRecord};

pub struct TelegramHarness<'a> {
    tg: &'a FakeTelegram,
    /// The rate limit in force before [`ConformanceHarness::throttle`].
    saved: Mutex<Option<Option<RateLimit>>>,
}

impl<'a> TelegramHarness<'a> {
    pub fn new(tg: &'a FakeTelegram) -> TelegramHarness<'a> {
        TelegramHarness { tg, saved: Mutex::new(None) }
    }

    pub fn user(n: u32) -> TgUser {
        TgUser::new(1000 + i64::from(n), format!("User {n}")).with_username(format!("user{n}"))
    }

    pub fn group_id(g: u32) -> i64 {
        -(5000 + i64::from(g))
    }
}

fn parse_chat(chat_id: &str) -> i64 {
    chat_id.parse().unwrap_or_else(|_| panic!("herald-testkit: {chat_id:?} is not a Telegram chat id"))
}

#[async_trait]
impl ConformanceHarness for TelegramHarness<'_> {
    async fn open_dm(&self, user: u32) -> String {
        let u = Self::user(user);
        self.tg.add_chat(&ChatInfo::private(&u));
        u.id.to_string()
    }

    async fn inject_dm_text(&self, user: u32, text: &str) -> Expected {
        let u = Self::user(user);
        let injected = self.tg.private_text(&u, text);
        Expected {
            chat_id: injected.chat_id.to_string(),
            chat_type: ChatType::Dm,
            user_id: u.id.to_string(),
            user_name: Some(u.first_name.clone()),
            message_id: injected.message_id.unwrap_or_default().to_string(),
            text: text.to_string(),
        }
    }

    async fn inject_group_text(&self, group: u32, user: u32, text: &str) -> Option<Expected> {
        let u = Self::user(user);
        let injected = self.tg.group_text(Self::group_id(group), &format!("Group {group}"), &u, text);
        Some(Expected {
            chat_id: injected.chat_id.to_string(),
            chat_type: ChatType::Group,
            user_id: u.id.to_string(),
            user_name: Some(u.first_name.clone()),
            message_id: injected.message_id.unwrap_or_default().to_string(),
            text: text.to_string(),
        })
    }

    async fn sent(&self, chat_id: &str) -> Vec<SentRecord> {
        self.tg
            .messages(parse_chat(chat_id))
            .into_iter()
            .filter(|m| !m.deleted)
            .map(|m| SentRecord {
                message_id: m.message_id.to_string(),
                text: m.text.or(m.caption).unwrap_or_default(),
                kind: m.kind,
            })
            .collect()
    }

    async fn typing_seen(&self, chat_id: &str) -> bool {
        self.tg.actions(parse_chat(chat_id)).iter().any(|a| a == "typing")
    }

    async fn drafts(&self, chat_id: &str) -> Vec<String> {
        self.tg.drafts(parse_chat(chat_id)).into_iter().map(|d| d.text).collect()
    }

    async fn throttle(&self, _chat_id: &str) {
        // Flood control is per chat but configured for all; refusing every counted call
        // is the same from this chat's point of view.
        let current = self.tg.shared.lock().rate_limit;
        self.saved.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(current);
        self.tg.set_rate_limit(Some(RateLimit::new(0, std::time::Duration::from_secs(30))));
    }

    async fn release(&self, _chat_id: &str) {
        if let Some(previous) = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.tg.set_rate_limit(previous);
        }
        self.tg.reset_rate_counters();
    }
}
