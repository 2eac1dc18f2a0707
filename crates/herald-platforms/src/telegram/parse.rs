//! Turns one Bot API `Update` into a herald [`Inbound`], or says why it is not one.
//!
//! Pure: no I/O, no clock, so the fuzz target drives exactly the code the adapter runs.
//! Media are returned as references ([`MediaRef`]); the adapter downloads them.

use herald_core::config::AllowBots;
use herald_core::{ChatType, Inbound, MediaKind, Platform, ReplyContext, Source};

use super::types::{Message, MessageEntity, Update};
use super::utf16;

/// Who the bot is, from `getMe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub id: i64,
    /// Without the leading `@`.
    pub username: String,
}

/// The group-gating policy (see `docs/platforms/telegram.md`, "Groups").
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub require_mention: bool,
    pub free_response_chats: Vec<String>,
    pub mention_patterns: Vec<regex::Regex>,
    pub allow_bots: Option<AllowBots>,
}

impl Gate {
    /// Compiles the wake-word patterns case-insensitively; a pattern that does not
    /// compile is returned in the second value (Hermes logs and skips it too).
    pub fn new(
        require_mention: bool,
        free_response_chats: Vec<String>,
        patterns: &[String],
        allow_bots: AllowBots,
    ) -> (Gate, Vec<(String, String)>) {
        let mut compiled = Vec::new();
        let mut bad = Vec::new();
        for p in patterns {
            match regex::RegexBuilder::new(p).case_insensitive(true).size_limit(1 << 20).build() {
                Ok(r) => compiled.push(r),
                Err(e) => bad.push((p.clone(), e.to_string())),
            }
        }
        (Gate { require_mention, free_response_chats, mention_patterns: compiled, allow_bots: Some(allow_bots) }, bad)
    }
}

/// A file attached to a message, still on Telegram's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub kind: MediaKind,
    pub file_id: String,
    pub file_unique_id: Option<String>,
    pub file_size: Option<u64>,
    pub mime_type: Option<String>,
    pub file_name: Option<String>,
}

/// A message for the gateway: the normalised inbound (without media yet) and the files
/// to download before it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub inbound: Inbound,
    pub media: Vec<MediaRef>,
}

/// Why an update is not handed to the gateway. Every one of these is confirmed to
/// Telegram (the offset moves past it), so none is fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not a message or channel post (an edit, a callback, a member update, ...).
    NotAMessage,
    /// A service message or a kind of content herald does not handle (a poll, a location).
    NoContent,
    /// The bot's own message.
    OwnMessage,
    /// A command addressed to another bot (`/new@other_bot`).
    OtherBotCommand,
    /// A group message that does not address the bot while mentions are required.
    NotAddressed,
    /// Written by another bot, and `TELEGRAM_ALLOW_BOTS` does not admit it here.
    BotAuthor,
    /// A chat type this adapter does not know.
    UnknownChatType,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotAMessage => "not a message",
            Skip::NoContent => "no text or media",
            Skip::OwnMessage => "the bot's own message",
            Skip::OtherBotCommand => "a command for another bot",
            Skip::NotAddressed => "not addressed to the bot",
            Skip::BotAuthor => "written by another bot",
            Skip::UnknownChatType => "unknown chat type",
        }
    }
}

/// An update that cannot be read. It carries the position and kind of the problem but
/// never the content (updates hold users' messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed update ({category} at line {line} column {column})")]
pub struct Malformed {
    pub category: &'static str,
    pub line: usize,
    pub column: usize,
}

impl From<serde_json::Error> for Malformed {
    fn from(e: serde_json::Error) -> Self {
        let category = match e.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        Malformed { category, line: e.line(), column: e.column() }
    }
}

/// The `update_id` of a raw update, read before the rest so that even an update whose
/// other fields are malformed can be confirmed.
pub fn update_id(value: &serde_json::Value) -> Option<i64> {
    value.get("update_id")?.as_i64()
}

/// Parses one update from JSON bytes (a webhook body).
pub fn parse_update_bytes(
    bytes: &[u8],
    bot: &BotIdentity,
    gate: &Gate,
) -> (Option<i64>, Result<Result<Parsed, Skip>, Malformed>) {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => {
            let id = update_id(&v);
            (id, parse_update(v, bot, gate))
        }
        Err(e) => (None, Err(e.into())),
    }
}

/// Parses one update already read as JSON (an element of `getUpdates`' result).
pub fn parse_update(
    value: serde_json::Value,
    bot: &BotIdentity,
    gate: &Gate,
) -> Result<Result<Parsed, Skip>, Malformed> {
    let update: Update = serde_json::from_value(value)?;
    Ok(normalise(update, bot, gate))
}

fn normalise(update: Update, bot: &BotIdentity, gate: &Gate) -> Result<Parsed, Skip> {
    let msg = update.message.or(update.channel_post).ok_or(Skip::NotAMessage)?;
    let chat_kind = msg.chat.kind.as_str();
    let is_group = matches!(chat_kind, "group" | "supergroup");
    let forum = chat_kind == "supergroup" && (msg.chat.is_forum == Some(true) || msg.is_topic_message == Some(true));
    let chat_type = match chat_kind {
        "private" => ChatType::Dm,
        "group" | "supergroup" if forum => ChatType::Forum,
        "group" | "supergroup" => ChatType::Group,
        "channel" => ChatType::Channel,
        _ => return Err(Skip::UnknownChatType),
    };
    let from_bot = msg.from.as_ref().is_some_and(|u| u.is_bot);
    if msg.from.as_ref().is_some_and(|u| u.id == bot.id) {
        return Err(Skip::OwnMessage);
    }

    let (raw_text, entities) = match (&msg.text, &msg.caption) {
        (Some(t), _) => (t.as_str(), msg.entities.as_deref().unwrap_or(&[])),
        (None, Some(c)) => (c.as_str(), msg.caption_entities.as_deref().unwrap_or(&[])),
        (None, None) => ("", &[][..]),
    };
    let media = media_refs(&msg);
    if raw_text.trim().is_empty() && media.is_empty() {
        return Err(Skip::NoContent);
    }

    let command = leading_command(raw_text);
    let command_for_us = match &command {
        Some(c) => match c.target {
            Some(target) if !target.eq_ignore_ascii_case(&bot.username) => return Err(Skip::OtherBotCommand),
            Some(_) => true,
            // A bare `/cmd` in a group reaches every bot there; Telegram delivers it to
            // bots in privacy mode precisely because it is a command, so it counts.
            None => true,
        },
        None => false,
    };

    let reply = implicit_reply_filtered(&msg);
    let reply_to_bot = reply.is_some_and(|r| r.from.as_ref().is_some_and(|u| u.id == bot.id));
    let explicitly_addressed =
        command_for_us || reply_to_bot || mentions_bot(raw_text, entities, bot) || matches_pattern(raw_text, gate);

    if from_bot {
        match gate.allow_bots {
            Some(AllowBots::All) => {}
            Some(AllowBots::Mentions) if explicitly_addressed => {}
            _ => return Err(Skip::BotAuthor),
        }
    }
    if is_group && gate.require_mention {
        let chat_id = msg.chat.id.to_string();
        let free = gate.free_response_chats.iter().any(|c| c == &chat_id);
        if !free && !explicitly_addressed {
            return Err(Skip::NotAddressed);
        }
    }

    let mut text = match &command {
        Some(c) if c.target.is_some() => {
            // `/new@herald_bot args` becomes `/new args`.
            format!("{}{}", &raw_text[..c.name_end], &raw_text[c.token_end..])
        }
        _ => raw_text.to_string(),
    };
    text = strip_leading_mention(&text, &bot.username);

    let thread_id = effective_thread_id(&msg, chat_kind);
    let chat_name = msg.chat.title.clone().or_else(|| {
        let name = [msg.chat.first_name.as_deref(), msg.chat.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() { msg.chat.username.clone() } else { Some(name) }
    });
    let source = Source {
        platform: Platform::Telegram,
        chat_type,
        chat_id: Some(msg.chat.id.to_string()),
        chat_name,
        user_id: msg.from.as_ref().map(|u| u.id.to_string()),
        user_name: msg.from.as_ref().and_then(|u| u.display_name()),
        thread_id,
        user_id_alt: None,
        profile: None,
    };
    let reply_to = reply.map(|r| ReplyContext {
        message_id: r.message_id.to_string(),
        text: r.text.clone().or_else(|| r.caption.clone()),
        from_bot: r.from.as_ref().is_some_and(|u| u.id == bot.id),
    });
    Ok(Parsed {
        inbound: Inbound {
            source,
            message_id: Some(msg.message_id.to_string()),
            text,
            media: Vec::new(),
            reply_to,
            timestamp_ms: msg.date.saturating_mul(1000),
            from_bot,
        },
        media,
    })
}

/// The replied-to message, unless it is only the topic's opening message (every message
/// in a forum topic carries that as `reply_to_message`).
fn implicit_reply_filtered(msg: &Message) -> Option<&Message> {
    let r = msg.reply_to_message.as_deref()?;
    if r.forum_topic_created.is_some()
        || (msg.is_topic_message == Some(true) && Some(r.message_id) == msg.message_thread_id)
    {
        return None;
    }
    Some(r)
}

/// Hermes's `_effective_message_thread_id`: a topic id only where it routes (forum
/// topics, private-chat topics); the General topic of a forum is `1`; the reply-anchor
/// ids Telegram puts on ordinary replies are not threads.
fn effective_thread_id(msg: &Message, chat_kind: &str) -> Option<String> {
    let group = matches!(chat_kind, "group" | "supergroup");
    let forum_group = group && msg.chat.is_forum == Some(true);
    let topic = msg.is_topic_message == Some(true);
    match msg.message_thread_id {
        Some(id) if forum_group || (group && topic) || (chat_kind == "private" && topic) => Some(id.to_string()),
        Some(_) => None,
        None if forum_group => Some("1".to_string()),
        None => None,
    }
}

fn media_refs(msg: &Message) -> Vec<MediaRef> {
    let mut out = Vec::new();
    if let Some(sizes) = &msg.photo {
        // Telegram lists sizes smallest first, but pick by area to not depend on it.
        if let Some(best) = sizes.iter().max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file_size)) {
            out.push(MediaRef {
                kind: MediaKind::Photo,
                file_id: best.file_id.clone(),
                file_unique_id: best.file_unique_id.clone(),
                file_size: best.file_size,
                mime_type: Some("image/jpeg".into()),
                file_name: None,
            });
        }
    }
    let files = [
        (MediaKind::Voice, &msg.voice),
        (MediaKind::Audio, &msg.audio),
        (MediaKind::Video, &msg.video),
        (MediaKind::Video, &msg.video_note),
        (MediaKind::Document, &msg.document),
        (MediaKind::Sticker, &msg.sticker),
    ];
    for (kind, meta) in files {
        if let Some(m) = meta {
            out.push(MediaRef {
                kind,
                file_id: m.file_id.clone(),
                file_unique_id: m.file_unique_id.clone(),
                file_size: m.file_size,
                mime_type: m.mime_type.clone(),
                file_name: m.file_name.clone(),
            });
        }
    }
    out
}

/// A leading `/command[@bot]` token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Command<'a> {
    /// Byte index where the command name ends (the `@`, or the token's end).
    name_end: usize,
    token_end: usize,
    target: Option<&'a str>,
}

fn leading_command(text: &str) -> Option<Command<'_>> {
    let rest = text.strip_prefix('/')?;
    let token_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let token = &rest[..token_len];
    let (name, target) = match token.split_once('@') {
        Some((n, t)) => (n, Some(t)),
        None => (token, None),
    };
    // Hermes: tokens containing `/` are paths, not commands.
    if name.is_empty() || name.contains('/') || target.is_some_and(|t| t.is_empty() || t.contains('/')) {
        return None;
    }
    Some(Command { name_end: 1 + name.len(), token_end: 1 + token_len, target })
}

fn mentions_bot(text: &str, entities: &[MessageEntity], bot: &BotIdentity) -> bool {
    for e in entities {
        match e.kind.as_str() {
            "mention" => {
                if let Some(m) = utf16::slice(text, e.offset, e.length)
                    && m.strip_prefix('@').is_some_and(|u| u.eq_ignore_ascii_case(&bot.username))
                {
                    return true;
                }
            }
            "text_mention" if e.user.as_ref().is_some_and(|u| u.id == bot.id) => return true,
            _ => {}
        }
    }
    // Hermes also accepts the plain `@username` text (clients that send no entity).
    find_mention(text, &bot.username).is_some()
}

/// Byte index of a whole-word `@username` in `text`, case-insensitively.
fn find_mention(text: &str, username: &str) -> Option<usize> {
    if username.is_empty() {
        return None;
    }
    let needle = format!("@{}", username.to_ascii_lowercase());
    let hay = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = hay[from..].find(&needle) {
        let at = from + pos;
        let end = at + needle.len();
        let word_char = |c: char| c.is_alphanumeric() || c == '_';
        let before_ok = !hay[..at].chars().next_back().is_some_and(word_char);
        let after_ok = !hay[end..].chars().next().is_some_and(word_char);
        if before_ok && after_ok {
            return Some(at);
        }
        from = end;
    }
    None
}

fn matches_pattern(text: &str, gate: &Gate) -> bool {
    gate.mention_patterns.iter().any(|p| p.is_match(text))
}

/// Removes a leading `@botname` (and a `,` or `:` right after it) from the text.
fn strip_leading_mention(text: &str, username: &str) -> String {
    let trimmed = text.trim_start();
    if find_mention(trimmed, username) == Some(0) {
        let rest = &trimmed[1 + username.len()..];
        let rest = rest.strip_prefix([',', ':']).unwrap_or(rest);
        return rest.trim_start().to_string();
    }
    text.to_string()
}

#[cfg(test)]
mod tests;
