//! Turning an [`IncomingMessage`] into the `Update` Telegram would send, with the
//! entities Telegram adds by itself (`bot_command`, `mention`).

use serde_json::{Value, json};

use super::methods::now_unix;
use super::params::ApiErr;
use super::state::State;
use super::types::{ChatMessage, IncomingMedia, IncomingMessage, Injected, TgUser};

/// `bot_command` for a leading `/cmd[@bot]`, `mention` for every `@username`, with
/// UTF-16 offsets, as Telegram marks them in users' messages.
pub fn auto_entities(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let units: Vec<(usize, char)> = text.char_indices().collect();
    let mut utf16 = 0usize;
    let mut idx = 0usize;
    while idx < units.len() {
        let (_, c) = units[idx];
        let at_word_start = idx == 0 || units[idx - 1].1.is_whitespace();
        if at_word_start && (c == '@' || (c == '/' && idx == 0)) {
            let start16 = utf16;
            let mut len16 = c.len_utf16();
            let mut j = idx + 1;
            while j < units.len() {
                let ch = units[j].1;
                let ok = ch.is_ascii_alphanumeric() || ch == '_' || (c == '/' && ch == '@');
                if !ok {
                    break;
                }
                len16 += ch.len_utf16();
                j += 1;
            }
            if j > idx + 1 {
                let kind = if c == '/' { "bot_command" } else { "mention" };
                out.push(json!({"type": kind, "offset": start16, "length": len16}));
                utf16 += len16;
                idx = j;
                continue;
            }
        }
        utf16 += c.len_utf16();
        idx += 1;
    }
    out
}

/// Builds the update for `msg`, stores the message in its chat and queues the update.
pub fn push_message(state: &mut State, bot: &TgUser, msg: &IncomingMessage) -> Result<Injected, ApiErr> {
    let media = match &msg.media {
        None => None,
        Some(m) => {
            let (key, id) = match m {
                IncomingMedia::Photo(id) => ("photo", id),
                IncomingMedia::Document(id) => ("document", id),
                IncomingMedia::Voice(id) => ("voice", id),
            };
            let f = state
                .files
                .get(id)
                .ok_or_else(|| ApiErr::bad(format!("unknown file_id {id}; add it with add_file")))?;
            Some((key, f.info.clone()))
        }
    };
    let chat_type = msg.chat.kind.clone();
    let chat = state.chat_mut(&msg.chat);
    let message_id = chat.allocate_id();
    let date = msg.date.unwrap_or_else(now_unix);
    let mut m = json!({"message_id": message_id, "date": date, "chat": msg.chat.to_json()});
    if let Some(from) = &msg.from {
        m["from"] = from.to_json();
    } else if chat_type == "channel" {
        m["sender_chat"] = msg.chat.to_json();
    }
    if let Some(t) = msg.message_thread_id {
        m["message_thread_id"] = json!(t);
        m["is_topic_message"] = json!(true);
    }
    if let Some(text) = &msg.text {
        m["text"] = json!(text);
        let e = auto_entities(text);
        if !e.is_empty() {
            m["entities"] = Value::Array(e);
        }
    }
    if let Some(caption) = &msg.caption {
        m["caption"] = json!(caption);
        let e = auto_entities(caption);
        if !e.is_empty() {
            m["caption_entities"] = Value::Array(e);
        }
    }
    if let Some((key, f)) = &media {
        let base = json!({"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.file_size});
        m[*key] = match *key {
            "photo" => {
                let mut small = base.clone();
                small["width"] = json!(90);
                small["height"] = json!(90);
                let mut large = base;
                large["width"] = json!(1280);
                large["height"] = json!(960);
                // Telegram lists sizes smallest first; both name the one stored file.
                json!([small, large])
            }
            "voice" => {
                let mut v = base;
                v["duration"] = json!(1);
                v["mime_type"] = json!(f.mime_type.clone().unwrap_or_else(|| "audio/ogg".into()));
                v
            }
            _ => {
                let mut v = base;
                if let Some(n) = &f.file_name {
                    v["file_name"] = json!(n);
                }
                if let Some(mt) = &f.mime_type {
                    v["mime_type"] = json!(mt);
                }
                v
            }
        };
    }
    if let Some(r) = msg.reply_to_message_id.and_then(|id| chat.messages.get(&id)) {
        let mut reply = json!({"message_id": r.message_id, "date": r.date, "chat": msg.chat.to_json()});
        if let Some(t) = &r.text {
            reply["text"] = json!(t);
        }
        if r.from_bot {
            reply["from"] = bot.to_json();
        }
        m["reply_to_message"] = reply;
    }
    chat.messages.insert(
        message_id,
        ChatMessage {
            message_id,
            chat_id: msg.chat.id,
            from_bot: false,
            kind: media.as_ref().map_or("text", |(k, _)| *k).to_string(),
            text: msg.text.clone(),
            entities: Vec::new(),
            caption: msg.caption.clone(),
            parse_mode: None,
            file_id: media.as_ref().map(|(_, f)| f.file_id.clone()),
            reply_to_message_id: msg.reply_to_message_id,
            message_thread_id: msg.message_thread_id,
            edits: Vec::new(),
            deleted: false,
            date,
        },
    );
    let key = if chat_type == "channel" { "channel_post" } else { "message" };
    let update_id = state.push_update(json!({ key: m }));
    Ok(Injected { update_id, chat_id: msg.chat.id, message_id: Some(message_id) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_mentions_are_marked() {
        assert_eq!(
            auto_entities("/new@herald_bot hi @bob"),
            vec![
                json!({"type": "bot_command", "offset": 0, "length": 15}),
                json!({"type": "mention", "offset": 19, "length": 4}),
            ]
        );
        assert_eq!(auto_entities("😀 @x"), vec![json!({"type": "mention", "offset": 3, "length": 2})]);
        assert!(auto_entities("a/b mail@x / @").is_empty());
    }
}
