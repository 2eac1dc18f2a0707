//! The Bot API methods, one function each, over the shared state.

mod media;
mod messages;
mod updates;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::markdown::{self, Entity};
use super::params::{ApiErr, Params};
use super::state::{Chat, Shared, State};
use super::types::ChatMessage;

/// Telegram's limit for a text message, in UTF-16 code units after entity parsing.
pub const MAX_TEXT_LEN: usize = 4096;
/// Telegram's limit for a caption.
pub const MAX_CAPTION_LEN: usize = 1024;

/// A method's success: the `result` and, for a few methods, a `description`.
pub struct Done {
    pub result: Value,
    pub description: Option<&'static str>,
}

impl From<Value> for Done {
    fn from(result: Value) -> Done {
        Done { result, description: None }
    }
}

/// Runs `method` (already lowercased).
pub async fn call(shared: &Shared, method: &str, params: &Params) -> Result<Done, ApiErr> {
    match method {
        "getme" => Ok(shared.bot_json().into()),
        "getupdates" => updates::get_updates(shared, params).await.map(Done::from),
        "setwebhook" => updates::set_webhook(shared, params),
        "deletewebhook" => updates::delete_webhook(shared, params),
        "getwebhookinfo" => updates::webhook_info(shared).map(Done::from),
        "sendmessage" => shared.update(|s| messages::send_message(s, &shared.bot, params)).map(Done::from),
        "editmessagetext" => shared.update(|s| messages::edit_message_text(s, &shared.bot, params)).map(Done::from),
        "deletemessage" => shared.update(|s| messages::delete_message(s, params)).map(Done::from),
        "sendmessagedraft" => shared.update(|s| messages::send_message_draft(s, params)).map(Done::from),
        "sendchataction" => shared.update(|s| messages::send_chat_action(s, params)).map(Done::from),
        "sendphoto" | "senddocument" | "sendvoice" | "sendaudio" | "sendvideo" | "sendsticker" => {
            shared.update(|s| media::send_media(s, &shared.bot, method, params)).map(Done::from)
        }
        "getfile" => media::get_file(&shared.lock(), params).map(Done::from),
        "setmycommands" => shared.update(|s| set_my_commands(s, params)).map(Done::from),
        "getmycommands" => get_my_commands(&shared.lock(), params).map(Done::from),
        "deletemycommands" => shared.update(|s| delete_my_commands(s, params)).map(Done::from),
        _ => Err(ApiErr::new(404, "Not Found")),
    }
}

impl Shared {
    /// The `User` object `getMe` answers.
    pub fn bot_json(&self) -> Value {
        json!({
            "id": self.bot.id,
            "is_bot": true,
            "first_name": self.bot.first_name,
            "username": self.bot.username,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            "has_main_web_app": false,
        })
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// The chat a call names: a known numeric id or a known `@username`.
pub fn chat<'a>(state: &'a mut State, params: &Params) -> Result<&'a mut Chat, ApiErr> {
    let raw = params.str("chat_id").filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiErr::bad("chat_id is empty"))?;
    let raw = raw.trim();
    let id = match raw.parse::<i64>() {
        Ok(id) => id,
        Err(_) => {
            let name = raw.strip_prefix('@').ok_or_else(|| ApiErr::bad("chat not found"))?;
            state
                .chats
                .values()
                .find(|c| c.info.username.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(name)))
                .map(|c| c.info.id)
                .ok_or_else(|| ApiErr::bad("chat not found"))?
        }
    };
    state.chats.get_mut(&id).ok_or_else(|| ApiErr::bad("chat not found"))
}

/// Parses `text` by `parse_mode`. Only MarkdownV2 is modelled; the two older modes are
/// refused loudly rather than passed through unchecked.
pub fn format(text: &str, params: &Params) -> Result<(String, Vec<Entity>, Option<String>), ApiErr> {
    let mode = params.str("parse_mode").filter(|m| !m.is_empty());
    match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => {
            let entities = match params.json("entities", "entities")? {
                Some(v) => serde_json::from_value(v).map_err(|_| ApiErr::bad("can't parse entities JSON object"))?,
                None => Vec::new(),
            };
            Ok((text.to_string(), entities, None))
        }
        Some("markdownv2") => {
            let (visible, entities) =
                markdown::parse(text).map_err(|e| ApiErr::bad(format!("can't parse entities: {e}")))?;
            Ok((visible, entities, mode))
        }
        Some("html") | Some("markdown") => Err(ApiErr::bad(
            "unsupported parse_mode (this fake Telegram server models MarkdownV2 only; extend herald-testkit to use HTML or Markdown)",
        )),
        Some(_) => Err(ApiErr::bad("unsupported parse_mode")),
    }
}

pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Whether a counted call to `chat` is within the rate limit; counts it when it is.
pub fn check_rate(rate: Option<super::types::RateLimit>, chat: &mut Chat) -> Result<(), ApiErr> {
    let Some(limit) = rate else { return Ok(()) };
    let now = Instant::now();
    while chat.counted.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
        chat.counted.pop_front();
    }
    if chat.counted.len() >= limit.max_calls {
        let oldest = chat.counted.front().copied().unwrap_or(now);
        let left = limit.window.saturating_sub(now.duration_since(oldest));
        let secs = left.as_millis().div_ceil(1000).max(1) as u64;
        return Err(ApiErr::too_many(secs));
    }
    chat.counted.push_back(now);
    Ok(())
}

/// The Bot API `Message` object of a stored message.
pub fn message_json(chat: &Chat, m: &ChatMessage, bot: &super::types::TgUser, file: Option<Value>) -> Value {
    let mut v = json!({
        "message_id": m.message_id,
        "date": m.date,
        "chat": chat.info.to_json(),
    });
    if m.from_bot {
        v["from"] = json!({"id": bot.id, "is_bot": true, "first_name": bot.first_name, "username": bot.username});
    }
    if let Some(t) = m.message_thread_id {
        v["message_thread_id"] = json!(t);
    }
    if let Some(text) = &m.text {
        v["text"] = json!(text);
        if !m.entities.is_empty() {
            v["entities"] = json!(m.entities);
        }
    }
    if let Some(c) = &m.caption {
        v["caption"] = json!(c);
        if !m.entities.is_empty() {
            v["caption_entities"] = json!(m.entities);
        }
    }
    if let Some(r) = m.reply_to_message_id.and_then(|id| chat.messages.get(&id)) {
        let mut reply = json!({"message_id": r.message_id, "date": r.date, "chat": chat.info.to_json()});
        if let Some(t) = &r.text {
            reply["text"] = json!(t);
        }
        v["reply_to_message"] = reply;
    }
    if !m.edits.is_empty() {
        v["edit_date"] = json!(now_unix());
    }
    if let Some((key, value)) = file.and_then(|f| f.as_object().cloned()).and_then(|o| o.into_iter().next()) {
        v[key] = value;
    }
    v
}

fn commands_key(params: &Params) -> Result<(String, String), ApiErr> {
    let scope = params.json("scope", "scope")?.unwrap_or_else(|| json!({"type": "default"}));
    Ok((scope.to_string(), params.str("language_code").unwrap_or_default()))
}

fn set_my_commands(state: &mut State, params: &Params) -> Result<Value, ApiErr> {
    let commands =
        params.json("commands", "commands")?.ok_or_else(|| ApiErr::bad("parameter \"commands\" is required"))?;
    let list = commands.as_array().ok_or_else(|| ApiErr::bad("can't parse commands JSON object"))?;
    if list.len() > 100 {
        return Err(ApiErr::bad("BOT_COMMANDS_TOO_MUCH"));
    }
    for c in list {
        let name = c.get("command").and_then(Value::as_str).unwrap_or("");
        let ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(ApiErr::bad("BOT_COMMAND_INVALID"));
        }
        let description = c.get("description").and_then(Value::as_str).unwrap_or("");
        if !(1..=256).contains(&description.chars().count()) {
            return Err(ApiErr::bad("BOT_COMMAND_DESCRIPTION_INVALID"));
        }
    }
    state.commands.insert(commands_key(params)?, commands);
    Ok(json!(true))
}

fn get_my_commands(state: &State, params: &Params) -> Result<Value, ApiErr> {
    Ok(state.commands.get(&commands_key(params)?).cloned().unwrap_or_else(|| json!([])))
}

fn delete_my_commands(state: &mut State, params: &Params) -> Result<Value, ApiErr> {
    state.commands.remove(&commands_key(params)?);
    Ok(json!(true))
}
