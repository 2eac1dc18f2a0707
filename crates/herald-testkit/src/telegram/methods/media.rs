//! Files: `sendPhoto`, `sendDocument`, `sendVoice` (and the other uploads), `getFile`.

use serde_json::{Value, json};

use super::messages::{reply_to, thread_id};
use super::{MAX_CAPTION_LEN, chat, check_rate, format, message_json, now_unix, utf16_len};
use crate::telegram::params::{ApiErr, Params};
use crate::telegram::state::{MAX_DOWNLOAD_BYTES, State};
use crate::telegram::types::{ChatMessage, FileInfo, TgUser};

/// The upload field, the stored kind and the file directory of each method.
fn field_of(method: &str) -> (&'static str, &'static str) {
    match method {
        "sendphoto" => ("photo", "photos"),
        "sendvoice" => ("voice", "voice"),
        "sendaudio" => ("audio", "music"),
        "sendvideo" => ("video", "videos"),
        "sendsticker" => ("sticker", "stickers"),
        _ => ("document", "documents"),
    }
}

/// The object a `Message` carries for a file of this kind.
fn file_json(field: &str, f: &FileInfo) -> Value {
    let base = json!({"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.file_size});
    match field {
        // The fake does not decode images, so it reports one size it cannot know.
        "photo" => json!({"photo": [{
            "file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.file_size,
            "width": 0, "height": 0,
        }]}),
        "voice" | "audio" | "video" => {
            let mut v = base;
            v["duration"] = json!(0);
            if let Some(m) = &f.mime_type {
                v["mime_type"] = json!(m);
            }
            json!({ field: v })
        }
        _ => {
            let mut v = base;
            if let Some(n) = &f.file_name {
                v["file_name"] = json!(n);
            }
            if let Some(m) = &f.mime_type {
                v["mime_type"] = json!(m);
            }
            json!({ field: v })
        }
    }
}

pub fn send_media(state: &mut State, bot: &TgUser, method: &str, params: &Params) -> Result<Value, ApiErr> {
    let (field, dir) = field_of(method);
    let rate = state.rate_limit;
    // The chat first: Telegram names a missing chat before a missing file.
    chat(state, params)?;
    let caption = match params.str("caption").filter(|c| !c.is_empty()) {
        Some(raw) => {
            let (visible, entities, _) = format(&raw, params)?;
            if utf16_len(&visible) > MAX_CAPTION_LEN {
                return Err(ApiErr::bad("message caption is too long"));
            }
            Some((visible, entities))
        }
        None => None,
    };
    let info = if let Some(upload) = params.files.get(field) {
        if upload.bytes.is_empty() {
            return Err(ApiErr::bad("file must be non-empty"));
        }
        state.add_file(upload.bytes.clone(), upload.file_name.clone(), upload.content_type.clone(), dir)
    } else {
        match params.str(field) {
            Some(id) if id.starts_with("http://") || id.starts_with("https://") => {
                // Tests touch 127.0.0.1 only, so the fake does not fetch URLs.
                return Err(ApiErr::bad("failed to get HTTP URL content"));
            }
            Some(id) if !id.starts_with("attach://") => match state.files.get(&id) {
                Some(f) => f.info.clone(),
                None => return Err(ApiErr::bad("wrong file identifier/HTTP URL specified")),
            },
            _ => return Err(ApiErr::bad(format!("there is no {field} in the request"))),
        }
    };
    let chat = chat(state, params)?;
    let reply = reply_to(chat, params)?;
    let thread = thread_id(chat, params)?;
    check_rate(rate, chat)?;
    let message_id = chat.allocate_id();
    let (caption, entities) = match caption {
        Some((c, e)) => (Some(c), e),
        None => (None, Vec::new()),
    };
    let message = ChatMessage {
        message_id,
        chat_id: chat.info.id,
        from_bot: true,
        kind: field.to_string(),
        text: None,
        entities,
        caption,
        parse_mode: params.str("parse_mode"),
        file_id: Some(info.file_id.clone()),
        reply_to_message_id: reply,
        message_thread_id: thread,
        edits: Vec::new(),
        deleted: false,
        date: now_unix(),
    };
    let json = message_json(chat, &message, bot, Some(file_json(field, &info)));
    chat.messages.insert(message_id, message);
    Ok(json)
}

pub fn get_file(state: &State, params: &Params) -> Result<Value, ApiErr> {
    let id = params.str("file_id").filter(|s| !s.is_empty()).ok_or_else(|| ApiErr::bad("invalid file_id"))?;
    let file = state.files.get(&id).ok_or_else(|| ApiErr::bad("invalid file_id"))?;
    if file.info.file_size > MAX_DOWNLOAD_BYTES {
        return Err(ApiErr::bad("file is too big"));
    }
    Ok(json!({
        "file_id": file.info.file_id,
        "file_unique_id": file.info.file_unique_id,
        "file_size": file.info.file_size,
        "file_path": file.info.file_path,
    }))
}
