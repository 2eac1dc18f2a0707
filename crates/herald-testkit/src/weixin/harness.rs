//! The conformance harness over the fake iLink server.
//!
//! User `n` is `o9cq80user000n@im.wechat` (zero-padded to 4 digits); their direct chat
//! has the same id, as an iLink bot names a peer by its user id. iLink delivers no group
//! messages, so there are no groups; it has no display names and no drafts.
//!
//! WeChat sends a caption as a separate text message just before the media message
//! (§B.7), so [`sent`](ConformanceHarness::sent) shows a media message with the text of
//! the bot's message right before it to the same user, if that one is a text (the text
//! message is listed too, as it is on the phone). Media kinds map to the suite's names:
//! image → `photo`, file → `document`, voice → `voice`, video → `video`.

use async_trait::async_trait;
use herald_core::ChatType;

use super::FakeWeixin;
use crate::conformance::{ConformanceHarness, Expected, SentRecord};

pub struct WeixinHarness<'a> {
    wx: &'a FakeWeixin,
}

impl<'a> WeixinHarness<'a> {
    pub fn new(wx: &'a FakeWeixin) -> WeixinHarness<'a> {
        WeixinHarness { wx }
    }

    pub fn user(n: u32) -> String {
        format!("o9cq80user{n:04}@im.wechat")
    }
}

fn kind(wire: &str) -> String {
    match wire {
        "image" => "photo",
        "file" => "document",
        other => other,
    }
    .to_string()
}

#[async_trait]
impl ConformanceHarness for WeixinHarness<'_> {
    async fn open_dm(&self, user: u32) -> String {
        // Nothing to create: the bot may write to a user it knows. Without a message
        // from them it has no context token, and the fake accepts the degraded send.
        Self::user(user)
    }

    async fn inject_dm_text(&self, user: u32, text: &str) -> Expected {
        let id = Self::user(user);
        let injected = self.wx.inject_text(&id, text);
        Expected {
            chat_id: id.clone(),
            chat_type: ChatType::Dm,
            user_id: id,
            user_name: None,
            message_id: injected.message_id,
            text: text.to_string(),
        }
    }

    async fn inject_group_text(&self, _group: u32, _user: u32, _text: &str) -> Option<Expected> {
        None
    }

    async fn sent(&self, chat_id: &str) -> Vec<SentRecord> {
        let sent = self.wx.sent_to(chat_id);
        sent.iter()
            .enumerate()
            .map(|(i, m)| {
                let text = match &m.text {
                    Some(t) => t.clone(),
                    None => i.checked_sub(1).and_then(|p| sent[p].text.clone()).unwrap_or_default(),
                };
                SentRecord { message_id: m.message_id.clone(), text, kind: kind(&m.kind) }
            })
            .collect()
    }

    async fn typing_seen(&self, chat_id: &str) -> bool {
        self.wx.typing().iter().any(|t| t.ilink_user_id == chat_id && t.status == 1)
    }

    async fn drafts(&self, _chat_id: &str) -> Vec<String> {
        Vec::new()
    }

    async fn throttle(&self, chat_id: &str) {
        self.wx.throttle(chat_id);
    }

    async fn release(&self, chat_id: &str) {
        self.wx.release(chat_id);
    }
}
