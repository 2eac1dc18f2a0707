//! Outbound operations: text with MarkdownV2 and the plain-text fallback, edits,
//! deletes, drafts, typing, media uploads.

use herald_core::{ChatType, MediaKind, OutboundOp, SendError, Sent, Target, TextFormat};
use serde_json::{Map, Value, json};

use super::api::{Api, ApiError, CALL_TIMEOUT};
use super::markdown;
use super::types::{EditResult, SentMessage};
use super::utf16;

/// Telegram's limit for a text message, in UTF-16 code units after entity parsing.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Telegram's limit for a media caption.
pub const MAX_CAPTION_LEN: usize = 1024;

fn chat_id_value(chat_id: &str) -> Value {
    // Numeric ids go as numbers; `@channelusername` stays a string.
    chat_id.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(chat_id))
}

fn id_value(raw: &str, what: &str) -> Result<i64, SendError> {
    raw.parse::<i64>().map_err(|_| SendError::Permanent(format!("`{raw}` is not a Telegram {what}")))
}

/// `chat_id`, `message_thread_id` (omitted for a forum's General topic, which Telegram
/// refuses as a thread id) and `reply_parameters` for `target`.
fn base_fields(target: &Target, with_reply: bool) -> Result<Map<String, Value>, SendError> {
    let mut m = Map::new();
    m.insert("chat_id".into(), chat_id_value(&target.chat_id));
    if let Some(t) = target.thread_id.as_deref().filter(|t| *t != "1") {
        m.insert("message_thread_id".into(), Value::from(id_value(t, "thread id")?));
    }
    if with_reply && let Some(r) = &target.reply_to {
        m.insert(
            "reply_parameters".into(),
            json!({"message_id": id_value(r, "message id")?, "allow_sending_without_reply": true}),
        );
    }
    Ok(m)
}

fn check_len(text: &str, limit: usize) -> Result<(), SendError> {
    let n = utf16::len(text);
    if n > limit {
        return Err(SendError::TooLong(format!("{n} UTF-16 code units; Telegram allows {limit}")));
    }
    Ok(())
}

/// Calls `method` with `text` formatted as MarkdownV2, and once more as plain text when
/// Telegram refuses the entities. Returns the answer and whether it fell back.
async fn with_fallback<T: serde::de::DeserializeOwned>(
    api: &Api,
    method: &str,
    mut fields: Map<String, Value>,
    text: &str,
    format: TextFormat,
) -> Result<(T, bool), SendError> {
    if format == TextFormat::Markdown {
        let mut formatted = fields.clone();
        formatted.insert("text".into(), Value::from(markdown::to_markdown_v2(text)));
        formatted.insert("parse_mode".into(), Value::from("MarkdownV2"));
        match api.call::<T>(method, &formatted, CALL_TIMEOUT).await {
            Ok(v) => return Ok((v, false)),
            Err(e) if e.is_parse_error() => {
                tracing::debug!(method, "Telegram refused the MarkdownV2 entities; resending as plain text");
            }
            Err(e) => return Err(e.to_send_error()),
        }
        fields.insert("text".into(), Value::from(text));
        return api.call::<T>(method, &fields, CALL_TIMEOUT).await.map(|v| (v, true)).map_err(|e| e.to_send_error());
    }
    fields.insert("text".into(), Value::from(text));
    api.call::<T>(method, &fields, CALL_TIMEOUT).await.map(|v| (v, false)).map_err(|e| e.to_send_error())
}

fn is_private(target: &Target) -> bool {
    match target.chat_type {
        Some(t) => t == ChatType::Dm,
        // Private chat ids are the user's id (positive); groups and channels are negative.
        None => target.chat_id.parse::<i64>().is_ok_and(|id| id > 0),
    }
}

/// Performs one operation.
pub async fn send(api: &Api, target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
    match op {
        OutboundOp::Send { text, format } => {
            check_len(text, MAX_MESSAGE_LEN)?;
            let fields = base_fields(target, true)?;
            let (msg, fell_back) = with_fallback::<SentMessage>(api, "sendMessage", fields, text, *format).await?;
            Ok(Sent { message_id: Some(msg.message_id.to_string()), fell_back_to_plain: fell_back })
        }
        OutboundOp::Edit { message_id, text, format } => {
            check_len(text, MAX_MESSAGE_LEN)?;
            let mut fields = Map::new();
            fields.insert("chat_id".into(), chat_id_value(&target.chat_id));
            fields.insert("message_id".into(), Value::from(id_value(message_id, "message id")?));
            let (res, fell_back) = with_fallback::<EditResult>(api, "editMessageText", fields, text, *format).await?;
            let id = match res {
                EditResult::Message(m) => m.message_id.to_string(),
                EditResult::Done(_) => message_id.clone(),
            };
            Ok(Sent { message_id: Some(id), fell_back_to_plain: fell_back })
        }
        OutboundOp::Delete { message_id } => {
            let body =
                json!({"chat_id": chat_id_value(&target.chat_id), "message_id": id_value(message_id, "message id")?});
            api.call::<bool>("deleteMessage", &body, CALL_TIMEOUT).await.map_err(|e| e.to_send_error())?;
            Ok(Sent { message_id: Some(message_id.clone()), fell_back_to_plain: false })
        }
        OutboundOp::Draft { draft_id, text } => {
            if !is_private(target) {
                return Err(SendError::Unsupported("sendMessageDraft works in private chats only"));
            }
            if *draft_id == 0 {
                return Err(SendError::Permanent("a draft id must be non-zero".into()));
            }
            check_len(text, MAX_MESSAGE_LEN)?;
            let mut fields = base_fields(target, false)?;
            fields.insert("draft_id".into(), Value::from(*draft_id));
            let (_, fell_back) =
                with_fallback::<bool>(api, "sendMessageDraft", fields, text, TextFormat::Markdown).await?;
            Ok(Sent { message_id: None, fell_back_to_plain: fell_back })
        }
        OutboundOp::Typing => {
            let mut fields = base_fields(target, false)?;
            fields.insert("action".into(), Value::from("typing"));
            api.call::<bool>("sendChatAction", &fields, CALL_TIMEOUT).await.map_err(|e| e.to_send_error())?;
            Ok(Sent::default())
        }
        OutboundOp::SendMedia { kind, path, caption } => send_media(api, target, *kind, path, caption.as_deref()).await,
    }
}

async fn send_media(
    api: &Api,
    target: &Target,
    kind: MediaKind,
    path: &std::path::Path,
    caption: Option<&str>,
) -> Result<Sent, SendError> {
    if let Some(c) = caption {
        check_len(c, MAX_CAPTION_LEN)?;
    }
    let (method, field) = match kind {
        MediaKind::Photo => ("sendPhoto", "photo"),
        MediaKind::Voice => ("sendVoice", "voice"),
        MediaKind::Audio => ("sendAudio", "audio"),
        MediaKind::Video => ("sendVideo", "video"),
        MediaKind::Document => ("sendDocument", "document"),
        MediaKind::Sticker => ("sendSticker", "sticker"),
    };
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| SendError::Permanent(format!("cannot read {}: {e}", path.display())))?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_string();
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in base_fields(target, true)? {
        let text = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        form = form.text(k, text);
    }
    if let Some(c) = caption
        && kind != MediaKind::Sticker
    {
        form = form.text("caption", c.to_string());
    }
    form = form.part(field, reqwest::multipart::Part::bytes(bytes).file_name(file_name));
    let msg: SentMessage = api.call_multipart(method, form).await.map_err(|e: ApiError| e.to_send_error())?;
    Ok(Sent { message_id: Some(msg.message_id.to_string()), fell_back_to_plain: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(thread: Option<&str>, reply: Option<&str>) -> Target {
        Target {
            chat_id: "-100123".into(),
            chat_type: Some(ChatType::Forum),
            thread_id: thread.map(str::to_string),
            reply_to: reply.map(str::to_string),
        }
    }

    #[test]
    fn threads_and_replies_go_into_every_send() {
        let f = base_fields(&target(Some("5"), Some("42")), true).unwrap();
        assert_eq!(
            Value::Object(f),
            json!({"chat_id": -100123, "message_thread_id": 5,
            "reply_parameters": {"message_id": 42, "allow_sending_without_reply": true}})
        );
        let f = base_fields(&target(Some("1"), None), true).unwrap();
        assert_eq!(Value::Object(f), json!({"chat_id": -100123}), "the General topic is sent without a thread id");
        let f = base_fields(&target(Some("5"), Some("42")), false).unwrap();
        assert!(!f.contains_key("reply_parameters"));
        assert!(base_fields(&target(Some("x"), None), true).is_err());
    }

    #[test]
    fn the_limit_is_counted_in_utf16() {
        assert!(check_len(&"a".repeat(4096), MAX_MESSAGE_LEN).is_ok());
        // 2048 emoji are 4096 units; one more is over.
        assert!(check_len(&"😀".repeat(2048), MAX_MESSAGE_LEN).is_ok());
        assert!(matches!(check_len(&"😀".repeat(2049), MAX_MESSAGE_LEN), Err(SendError::TooLong(_))));
    }

    #[test]
    fn private_chats_are_recognised_without_a_type() {
        let mut t = target(None, None);
        t.chat_type = None;
        assert!(!is_private(&t));
        t.chat_id = "12345".into();
        assert!(is_private(&t));
        t.chat_type = Some(ChatType::Group);
        assert!(!is_private(&t));
    }
}
