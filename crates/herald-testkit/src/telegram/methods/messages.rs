//! Text messages: `sendMessage`, `editMessageText`, `deleteMessage`,
//! `sendMessageDraft`, `sendChatAction`.

use serde_json::{Value, json};

use super::{MAX_TEXT_LEN, chat, check_rate, format, message_json, now_unix, utf16_len};
use crate::telegram::params::{ApiErr, Params};
use crate::telegram::state::{Chat, State};
use crate::telegram::types::{ChatMessage, Draft, TgUser};

const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// The visible text of a send or edit, checked like Telegram: parsed, not blank, not
/// over the limit.
fn checked_text(params: &Params) -> Result<(String, Vec<crate::telegram::markdown::Entity>, Option<String>), ApiErr> {
    let raw = params.str("text").unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(ApiErr::bad("message text is empty"));
    }
    let (visible, entities, mode) = format(&raw, params)?;
    if visible.trim().is_empty() {
        return Err(ApiErr::bad("message text is empty"));
    }
    if utf16_len(&visible) > MAX_TEXT_LEN {
        return Err(ApiErr::bad("message is too long"));
    }
    Ok((visible, entities, mode))
}

/// `reply_parameters` (or the older `reply_to_message_id`): the id to reply to, if it
/// exists or missing replies are allowed.
pub(super) fn reply_to(chat: &Chat, params: &Params) -> Result<Option<i64>, ApiErr> {
    let (id, allow_missing) = match params.json("reply_parameters", "reply parameters")? {
        Some(r) => {
            let id = r
                .get("message_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| ApiErr::bad("message to be replied not found"))?;
            (Some(id), r.get("allow_sending_without_reply").and_then(Value::as_bool).unwrap_or(false))
        }
        None => (params.int("reply_to_message_id")?, params.bool("allow_sending_without_reply")),
    };
    let Some(id) = id else { return Ok(None) };
    if chat.messages.get(&id).is_some_and(|m| !m.deleted) {
        Ok(Some(id))
    } else if allow_missing {
        Ok(None)
    } else {
        Err(ApiErr::bad("message to be replied not found"))
    }
}

pub(super) fn thread_id(chat: &Chat, params: &Params) -> Result<Option<i64>, ApiErr> {
    let id = params.int("message_thread_id")?;
    if id.is_some() && chat.info.kind != "supergroup" && chat.info.kind != "private" {
        return Err(ApiErr::bad("message thread not found"));
    }
    Ok(id)
}

pub fn send_message(state: &mut State, bot: &TgUser, params: &Params) -> Result<Value, ApiErr> {
    let rate = state.rate_limit;
    let chat = chat(state, params)?;
    let (text, entities, parse_mode) = checked_text(params)?;
    let reply = reply_to(chat, params)?;
    let thread = thread_id(chat, params)?;
    check_rate(rate, chat)?;
    let message_id = chat.allocate_id();
    let message = ChatMessage {
        message_id,
        chat_id: chat.info.id,
        from_bot: true,
        kind: "text".into(),
        text: Some(text),
        entities,
        caption: None,
        parse_mode,
        file_id: None,
        reply_to_message_id: reply,
        message_thread_id: thread,
        edits: Vec::new(),
        deleted: false,
        date: now_unix(),
    };
    let json = message_json(chat, &message, bot, None);
    chat.messages.insert(message_id, message);
    Ok(json)
}

pub fn edit_message_text(state: &mut State, bot: &TgUser, params: &Params) -> Result<Value, ApiErr> {
    if params.str("inline_message_id").is_some() {
        // Inline messages belong to inline mode, which herald does not use.
        return Err(ApiErr::bad("MESSAGE_ID_INVALID"));
    }
    let rate = state.rate_limit;
    let chat = chat(state, params)?;
    let message_id = params.int("message_id")?.ok_or_else(|| ApiErr::bad("message identifier is not specified"))?;
    let (text, entities, parse_mode) = checked_text(params)?;
    let reply_markup = params.json("reply_markup", "reply markup")?;
    let Some(existing) = chat.messages.get(&message_id).filter(|m| !m.deleted) else {
        return Err(ApiErr::bad("message to edit not found"));
    };
    if !existing.from_bot {
        return Err(ApiErr::bad("message can't be edited"));
    }
    if existing.text.is_none() {
        return Err(ApiErr::bad("there is no text in the message to edit"));
    }
    if existing.text.as_deref() == Some(text.as_str()) && existing.entities == entities && reply_markup.is_none() {
        return Err(ApiErr::bad(
            "message is not modified: specified new message content and reply markup are exactly the same as a \
             current content and reply markup of the message",
        ));
    }
    check_rate(rate, chat)?;
    let mut message = chat.messages.remove(&message_id).unwrap_or_else(|| unreachable!("checked above"));
    if let Some(old) = message.text.replace(text) {
        message.edits.push(old);
    }
    message.entities = entities;
    message.parse_mode = parse_mode;
    let json = message_json(chat, &message, bot, None);
    chat.messages.insert(message_id, message);
    Ok(json)
}

pub fn delete_message(state: &mut State, params: &Params) -> Result<Value, ApiErr> {
    let chat = chat(state, params)?;
    let message_id = params.int("message_id")?.ok_or_else(|| ApiErr::bad("message identifier is not specified"))?;
    match chat.messages.get_mut(&message_id) {
        Some(m) if !m.deleted => {
            m.deleted = true;
            Ok(json!(true))
        }
        _ => Err(ApiErr::bad("message to delete not found")),
    }
}

pub fn send_message_draft(state: &mut State, params: &Params) -> Result<Value, ApiErr> {
    let chat = chat(state, params)?;
    if chat.info.kind != "private" {
        return Err(ApiErr::bad("method is available only for private chats"));
    }
    let draft_id = params.int("draft_id")?.unwrap_or(0);
    if draft_id == 0 {
        return Err(ApiErr::bad("parameter \"draft_id\" must be non-zero"));
    }
    // Drafts may be empty (Telegram then shows a "Thinking..." placeholder).
    let raw = params.str("text").unwrap_or_default();
    let (text, _, _) = format(&raw, params)?;
    if utf16_len(&text) > MAX_TEXT_LEN {
        return Err(ApiErr::bad("message is too long"));
    }
    let message_thread_id = thread_id(chat, params)?;
    chat.drafts.push(Draft { draft_id, text, message_thread_id });
    Ok(json!(true))
}

pub fn send_chat_action(state: &mut State, params: &Params) -> Result<Value, ApiErr> {
    let chat = chat(state, params)?;
    let action = params.str("action").unwrap_or_default();
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiErr::bad("wrong parameter action in request"));
    }
    thread_id(chat, params)?;
    chat.actions.push(action);
    Ok(json!(true))
}
