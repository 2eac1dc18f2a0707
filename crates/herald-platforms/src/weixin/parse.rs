//! Turns one iLink message into a herald [`Inbound`], or says why it is not one
//! (hermes-gateway.md §12.3).
//!
//! Pure: no I/O, no clock, so the fuzz target drives exactly the code the adapter runs.
//! Media are returned as references ([`MediaRef`]); the adapter downloads them.

use herald_core::config::AdapterPolicy;
use herald_core::{ChatType, Inbound, MediaKind, Platform, Source};

use super::types::{
    CdnMedia, ITEM_FILE, ITEM_IMAGE, ITEM_TEXT, ITEM_VIDEO, ITEM_VOICE, MESSAGE_TYPE_BOT, MESSAGE_TYPE_USER,
    MessageItem, WeixinMessage,
};

/// Hermes's prefix for a voice message that arrives as WeChat's transcription only.
pub const VOICE_TRANSCRIPT_PREFIX: &str = "[Voice transcription provided by Weixin]\n";

/// The DM and group policies the adapter enforces itself (Hermes's
/// `enforces_own_access_policy`); the gateway's admission runs after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub dm: AdapterPolicy,
    pub group: AdapterPolicy,
    /// Sender ids for the `allowlist` DM policy (`WEIXIN_ALLOWED_USERS`).
    pub allow_from: Vec<String>,
    /// Group chat ids for the `allowlist` group policy (`WEIXIN_GROUP_ALLOWED_USERS`).
    pub group_allow_from: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            dm: AdapterPolicy::Pairing,
            group: AdapterPolicy::Disabled,
            allow_from: vec![],
            group_allow_from: vec![],
        }
    }
}

fn listed(list: &[String], id: &str) -> bool {
    list.iter().any(|v| v == "*" || v == id)
}

impl Policy {
    /// Whether a message in this chat passes: DMs under `open` and `pairing` all go on
    /// (pairing is the gateway's), under `allowlist` only listed senders; groups under
    /// `open`, or `allowlist` for listed group ids; `disabled` (and `pairing` for
    /// groups, as Hermes) drops.
    pub fn admits(&self, chat_type: ChatType, chat_id: &str, sender: &str) -> bool {
        match chat_type {
            ChatType::Dm => match self.dm {
                AdapterPolicy::Open | AdapterPolicy::Pairing => true,
                AdapterPolicy::Allowlist => listed(&self.allow_from, sender),
                AdapterPolicy::Disabled => false,
            },
            _ => match self.group {
                AdapterPolicy::Open => true,
                AdapterPolicy::Allowlist => listed(&self.group_allow_from, chat_id),
                AdapterPolicy::Disabled | AdapterPolicy::Pairing => false,
            },
        }
    }
}

/// A file of a message, still on the CDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub kind: MediaKind,
    pub media: CdnMedia,
    /// `image_item.aeskey` (hex), preferred over `media.aes_key` for images.
    pub image_aeskey: Option<String>,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    /// The size the message declares (plaintext for files, ciphertext otherwise).
    pub declared_size: Option<u64>,
    /// WeChat's transcription of a voice message.
    pub transcript: Option<String>,
    /// From the quoted message rather than the message itself.
    pub quoted: bool,
}

/// A message for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The normalised message, without media yet.
    pub inbound: Inbound,
    pub media: Vec<MediaRef>,
    /// The sender, whose context token this is.
    pub sender: String,
    pub context_token: Option<String>,
}

/// Why a message is not handed to the gateway. None of these is fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NoSender,
    /// Written by this bot (or by a bot at all: iLink delivers only users to bots).
    OwnMessage,
    NoContent,
    /// Refused by `WEIXIN_DM_POLICY`.
    DmPolicy,
    /// Refused by `WEIXIN_GROUP_POLICY`.
    GroupPolicy,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NoSender => "no sender",
            Skip::OwnMessage => "the bot's own message",
            Skip::NoContent => "no text or media",
            Skip::DmPolicy => "refused by WEIXIN_DM_POLICY",
            Skip::GroupPolicy => "refused by WEIXIN_GROUP_POLICY",
        }
    }
}

fn size(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok())
}

/// A small table of common extensions; files arrive with a name only.
pub fn guess_mime(file_name: &str) -> Option<&'static str> {
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "silk" => "audio/silk",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        _ => return None,
    })
}

/// The media of one item, if it has any to download.
fn media_of(item: &MessageItem, quoted: bool) -> Option<MediaRef> {
    let base = |kind, media: &Option<CdnMedia>| {
        media.clone().filter(|m| m.encrypt_query_param.is_some() || m.full_url.is_some()).map(|media| MediaRef {
            kind,
            media,
            image_aeskey: None,
            file_name: None,
            mime_type: None,
            declared_size: None,
            transcript: None,
            quoted,
        })
    };
    match item.kind? {
        ITEM_IMAGE => {
            let i = item.image_item.as_ref()?;
            let mut m = base(MediaKind::Photo, &i.media)?;
            m.image_aeskey = i.aeskey.clone();
            m.mime_type = Some("image/jpeg".into());
            m.declared_size = size(i.hd_size.or(i.mid_size));
            Some(m)
        }
        ITEM_VOICE => {
            let v = item.voice_item.as_ref()?;
            let mut m = base(MediaKind::Voice, &v.media)?;
            m.mime_type = Some("audio/silk".into());
            m.transcript = v.text.clone().filter(|t| !t.trim().is_empty());
            Some(m)
        }
        ITEM_FILE => {
            let f = item.file_item.as_ref()?;
            let mut m = base(MediaKind::Document, &f.media)?;
            m.file_name = f.file_name.clone();
            m.mime_type = f.file_name.as_deref().and_then(guess_mime).map(str::to_string);
            m.declared_size = f.len.as_deref().and_then(|l| l.trim().parse().ok());
            Some(m)
        }
        ITEM_VIDEO => {
            let v = item.video_item.as_ref()?;
            let mut m = base(MediaKind::Video, &v.media)?;
            m.mime_type = Some("video/mp4".into());
            m.declared_size = size(v.video_size);
            Some(m)
        }
        _ => None,
    }
}

fn is_media_kind(kind: Option<i64>) -> bool {
    matches!(kind, Some(ITEM_IMAGE | ITEM_VOICE | ITEM_FILE | ITEM_VIDEO))
}

fn item_text(item: &MessageItem) -> Option<&str> {
    item.text_item.as_ref()?.text.as_deref()
}

/// The text with the quote prefix of §12.3, and the quoted item's media.
fn quote_prefix(item: &MessageItem) -> (Option<String>, Option<MediaRef>) {
    let Some(r) = item.ref_msg.as_deref() else { return (None, None) };
    let title = r.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let quoted = r.message_item.as_ref();
    if let Some(q) = quoted.filter(|q| is_media_kind(q.kind)) {
        let prefix = match title {
            Some(t) => format!("[引用媒体: {t}]"),
            None => "[引用媒体]".to_string(),
        };
        return (Some(prefix), media_of(q, true));
    }
    let quoted_text = quoted.and_then(item_text).map(str::trim).filter(|t| !t.is_empty());
    let parts: Vec<&str> = [title, quoted_text].into_iter().flatten().collect();
    if parts.is_empty() {
        return (None, None);
    }
    (Some(format!("[引用: {}]", parts.join(" | "))), None)
}

/// Parses one message. `account_id` is the bot's own id (`…@im.bot`).
pub fn parse_message(msg: WeixinMessage, account_id: &str, policy: &Policy) -> Result<Parsed, Skip> {
    let sender = msg.from_user_id.as_deref().map(str::trim).unwrap_or_default().to_string();
    if sender.is_empty() {
        return Err(Skip::NoSender);
    }
    if sender == account_id || msg.kind() == Some(MESSAGE_TYPE_BOT) {
        return Err(Skip::OwnMessage);
    }
    // Hermes: a group when a room id is given, or when the message is addressed to
    // someone other than this bot; otherwise a DM whose chat is the sender.
    let to = msg.to_user_id.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (chat_type, chat_id) = match msg.room().map(str::to_string) {
        Some(room) => (ChatType::Group, room),
        None => match to {
            Some(to) if !account_id.is_empty() && to != account_id && msg.kind() == Some(MESSAGE_TYPE_USER) => {
                (ChatType::Group, to.to_string())
            }
            _ => (ChatType::Dm, sender.clone()),
        },
    };
    if !policy.admits(chat_type, &chat_id, &sender) {
        return Err(if chat_type == ChatType::Dm { Skip::DmPolicy } else { Skip::GroupPolicy });
    }

    let mut texts: Vec<String> = Vec::new();
    let mut media = Vec::new();
    let mut voice_transcript = None;
    for item in &msg.item_list {
        let (prefix, quoted_media) = quote_prefix(item);
        media.extend(quoted_media);
        match item.kind {
            Some(ITEM_TEXT) => {
                let t = item_text(item).unwrap_or_default();
                match prefix {
                    Some(p) => texts.push(format!("{p}\n{t}")),
                    None if !t.is_empty() => texts.push(t.to_string()),
                    None => {}
                }
            }
            Some(ITEM_VOICE) => {
                match media_of(item, false) {
                    Some(m) => media.push(m),
                    // No audio to download: WeChat's transcription is the message.
                    None => {
                        voice_transcript = item
                            .voice_item
                            .as_ref()
                            .and_then(|v| v.text.as_deref())
                            .map(str::trim)
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                    }
                }
                texts.extend(prefix);
            }
            _ => {
                media.extend(media_of(item, false));
                texts.extend(prefix);
            }
        }
    }
    let mut text = texts.join("\n");
    if text.trim().is_empty()
        && let Some(t) = voice_transcript
    {
        text = format!("{VOICE_TRANSCRIPT_PREFIX}{t}");
    }
    if text.trim().is_empty() && media.is_empty() {
        return Err(Skip::NoContent);
    }
    let source = Source {
        platform: Platform::Weixin,
        chat_type,
        chat_id: Some(chat_id),
        chat_name: None,
        user_id: Some(sender.clone()),
        user_name: None,
        thread_id: None,
        user_id_alt: None,
        profile: None,
    };
    Ok(Parsed {
        inbound: Inbound {
            source,
            message_id: msg.message_id.clone(),
            text,
            media: Vec::new(),
            reply_to: None,
            timestamp_ms: msg.create_time_ms.unwrap_or(0),
            from_bot: false,
        },
        media,
        sender,
        context_token: msg.context_token.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weixin::types;

    const BOT: &str = "bot1@im.bot";

    fn msg(json: &str) -> WeixinMessage {
        let body = format!(r#"{{"msgs":[{json}]}}"#);
        let r = types::parse_updates(body.as_bytes()).unwrap();
        types::parse_message(&r.msgs[0]).unwrap()
    }

    fn parse(json: &str) -> Result<Parsed, Skip> {
        parse_message(msg(json), BOT, &Policy::default())
    }

    #[test]
    fn a_dm_text_message() {
        let p = parse(
            r#"{"message_id":123,"from_user_id":"u1@im.wechat","to_user_id":"bot1@im.bot","message_type":1,
            "create_time_ms":1760000000000,"context_token":"ctx","item_list":[{"type":1,"text_item":{"text":"hi"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.inbound.source.chat_type, ChatType::Dm);
        assert_eq!(p.inbound.source.chat_id.as_deref(), Some("u1@im.wechat"));
        assert_eq!(p.inbound.source.user_id.as_deref(), Some("u1@im.wechat"));
        assert_eq!(p.inbound.message_id.as_deref(), Some("123"));
        assert_eq!(p.inbound.text, "hi");
        assert_eq!(p.inbound.timestamp_ms, 1760000000000);
        assert_eq!(p.context_token.as_deref(), Some("ctx"));
        assert_eq!(p.sender, "u1@im.wechat");
    }

    #[test]
    fn own_and_senderless_messages_are_skipped() {
        assert_eq!(
            parse(r#"{"from_user_id":"bot1@im.bot","item_list":[{"type":1,"text_item":{"text":"x"}}]}"#).unwrap_err(),
            Skip::OwnMessage
        );
        assert_eq!(
            parse(r#"{"from_user_id":"u","message_type":2,"item_list":[{"type":1,"text_item":{"text":"x"}}]}"#)
                .unwrap_err(),
            Skip::OwnMessage
        );
        assert_eq!(parse(r#"{"item_list":[{"type":1,"text_item":{"text":"x"}}]}"#).unwrap_err(), Skip::NoSender);
        assert_eq!(
            parse(r#"{"from_user_id":"u","item_list":[{"type":1,"text_item":{"text":"  "}}]}"#).unwrap_err(),
            Skip::NoContent
        );
        assert_eq!(parse(r#"{"from_user_id":"u","item_list":[{"type":11}]}"#).unwrap_err(), Skip::NoContent);
    }

    #[test]
    fn groups_are_detected_as_hermes_does_and_gated() {
        let room = r#"{"from_user_id":"u","room_id":"g1@chatroom","item_list":[{"type":1,"text_item":{"text":"x"}}]}"#;
        assert_eq!(parse(room).unwrap_err(), Skip::GroupPolicy, "groups are disabled by default");
        let open = Policy { group: AdapterPolicy::Open, ..Policy::default() };
        let p = parse_message(msg(room), BOT, &open).unwrap();
        assert_eq!(p.inbound.source.chat_type, ChatType::Group);
        assert_eq!(p.inbound.source.chat_id.as_deref(), Some("g1@chatroom"));
        // Addressed to someone else with msg_type 1: a group whose id is to_user_id.
        let to = r#"{"from_user_id":"u","to_user_id":"g2@chatroom","msg_type":1,"item_list":[{"type":1,"text_item":{"text":"x"}}]}"#;
        assert_eq!(parse_message(msg(to), BOT, &open).unwrap().inbound.source.chat_id.as_deref(), Some("g2@chatroom"));
        let listed = Policy {
            group: AdapterPolicy::Allowlist,
            group_allow_from: vec!["g2@chatroom".into()],
            ..Policy::default()
        };
        assert!(parse_message(msg(to), BOT, &listed).is_ok());
        assert_eq!(parse_message(msg(room), BOT, &listed).unwrap_err(), Skip::GroupPolicy);
        let pairing = Policy { group: AdapterPolicy::Pairing, ..Policy::default() };
        assert_eq!(parse_message(msg(room), BOT, &pairing).unwrap_err(), Skip::GroupPolicy);
    }

    #[test]
    fn dm_policies() {
        let m = r#"{"from_user_id":"u1@im.wechat","item_list":[{"type":1,"text_item":{"text":"x"}}]}"#;
        for (policy, ok) in [
            (Policy { dm: AdapterPolicy::Open, ..Policy::default() }, true),
            (Policy { dm: AdapterPolicy::Pairing, ..Policy::default() }, true),
            (Policy { dm: AdapterPolicy::Disabled, ..Policy::default() }, false),
            (Policy { dm: AdapterPolicy::Allowlist, ..Policy::default() }, false),
            (
                Policy { dm: AdapterPolicy::Allowlist, allow_from: vec!["u1@im.wechat".into()], ..Policy::default() },
                true,
            ),
            (Policy { dm: AdapterPolicy::Allowlist, allow_from: vec!["*".into()], ..Policy::default() }, true),
        ] {
            let got = parse_message(msg(m), BOT, &policy);
            assert_eq!(got.is_ok(), ok, "{policy:?}");
            if !ok {
                assert_eq!(got.unwrap_err(), Skip::DmPolicy);
            }
        }
    }

    #[test]
    fn quotes_become_prefixes() {
        let p = parse(
            r#"{"from_user_id":"u","item_list":[{"type":1,"text_item":{"text":"agreed"},
            "ref_msg":{"title":"Bob","message_item":{"type":1,"text_item":{"text":"lunch?"}}}}]}"#,
        )
        .unwrap();
        assert_eq!(p.inbound.text, "[引用: Bob | lunch?]\nagreed");
        let p = parse(
            r#"{"from_user_id":"u","item_list":[{"type":1,"text_item":{"text":"what is this"},
            "ref_msg":{"title":"photo","message_item":{"type":2,"image_item":{"aeskey":"00112233445566778899aabbccddeeff",
            "media":{"encrypt_query_param":"q1"}}}}}]}"#,
        )
        .unwrap();
        assert_eq!(p.inbound.text, "[引用媒体: photo]\nwhat is this");
        assert_eq!(p.media.len(), 1);
        assert!(p.media[0].quoted);
        assert_eq!(p.media[0].kind, MediaKind::Photo);
        assert_eq!(p.media[0].image_aeskey.as_deref(), Some("00112233445566778899aabbccddeeff"));
        let p = parse(
            r#"{"from_user_id":"u","item_list":[{"type":1,"text_item":{"text":"x"},"ref_msg":{"message_item":{"type":5}}}]}"#,
        )
        .unwrap();
        assert_eq!(p.inbound.text, "[引用媒体]\nx");
    }

    #[test]
    fn media_items_become_references() {
        let p = parse(
            r#"{"from_user_id":"u","item_list":[
            {"type":2,"image_item":{"media":{"encrypt_query_param":"i","aes_key":"k"},"mid_size":100}},
            {"type":4,"file_item":{"file_name":"report.PDF","len":"77","media":{"full_url":"https://novac2c.cdn.weixin.qq.com/c2c/download?x"}}},
            {"type":5,"video_item":{"media":{"encrypt_query_param":"v"},"video_size":9}},
            {"type":3,"voice_item":{"media":{"encrypt_query_param":"a"},"text":"语音"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.inbound.text, "");
        let kinds: Vec<MediaKind> = p.media.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![MediaKind::Photo, MediaKind::Document, MediaKind::Video, MediaKind::Voice]);
        assert_eq!(p.media[0].declared_size, Some(100));
        assert_eq!(p.media[1].file_name.as_deref(), Some("report.PDF"));
        assert_eq!(p.media[1].mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(p.media[1].declared_size, Some(77));
        assert_eq!(p.media[3].transcript.as_deref(), Some("语音"));
        assert_eq!(p.media[3].mime_type.as_deref(), Some("audio/silk"));
        // An image without anything to fetch is not media.
        assert_eq!(
            parse(r#"{"from_user_id":"u","item_list":[{"type":2,"image_item":{}}]}"#).unwrap_err(),
            Skip::NoContent
        );
    }

    #[test]
    fn a_voice_transcript_without_audio_is_the_text() {
        let p = parse(r#"{"from_user_id":"u","item_list":[{"type":3,"voice_item":{"text":"明天见"}}]}"#).unwrap();
        assert_eq!(p.inbound.text, format!("{VOICE_TRANSCRIPT_PREFIX}明天见"));
        assert!(p.media.is_empty());
    }
}
