//! Building the `WeixinMessage`s users "send" (§B.7), with their media encrypted onto
//! the fake CDN (§B.9).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::crypto;
use super::media::{new_param, url_encode};
use super::state::{Blob, Shared, State};
use super::types::{InboundMedia, InboundMessage, Injected, KeyEncoding, MediaKind};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(1)
}

fn new_context_token() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

struct StoredMedia {
    item: Value,
    param: String,
    key_hex: Option<String>,
}

fn media_item(shared: &Shared, s: &mut State, media: &InboundMedia) -> Result<StoredMedia, String> {
    let encoding = media.key.unwrap_or(match media.kind {
        MediaKind::Image => KeyEncoding::ImageHex,
        _ => KeyEncoding::Base64Hex,
    });
    if encoding == KeyEncoding::ImageHex && media.kind != MediaKind::Image {
        return Err("image_hex puts the key in image_item.aeskey, which only images have".into());
    }
    let key = crypto::random_key();
    let key_hex = hex::encode(key);
    let cipher = if encoding == KeyEncoding::Plain { media.bytes.clone() } else { crypto::encrypt(&key, &media.bytes) };
    let cipher_len = cipher.len() as u64;
    let param = new_param(64);
    s.blobs.insert(param.clone(), Blob { cipher, upload: None });
    let mut cdn = json!({"encrypt_query_param": param, "encrypt_type": 1});
    match encoding {
        KeyEncoding::Base64Hex => cdn["aes_key"] = json!(STANDARD.encode(&key_hex)),
        KeyEncoding::Base64Raw => cdn["aes_key"] = json!(STANDARD.encode(key)),
        KeyEncoding::ImageHex | KeyEncoding::Plain => {}
    }
    if media.full_url {
        cdn["full_url"] =
            json!(format!("{}/download?encrypted_query_param={}", shared.cdn_base_url(), url_encode(&param)));
    }
    let md5 = crypto::md5_hex(&media.bytes);
    let item = match media.kind {
        MediaKind::Image => {
            let mut image = json!({"media": cdn, "mid_size": cipher_len});
            if encoding == KeyEncoding::ImageHex {
                image["aeskey"] = json!(key_hex);
            }
            json!({"type": 2, "image_item": image})
        }
        MediaKind::Voice => {
            let mut voice =
                json!({"media": cdn, "encode_type": 6, "bits_per_sample": 16, "sample_rate": 24000, "playtime": 1000});
            if let Some(t) = &media.voice_text {
                voice["text"] = json!(t);
            }
            json!({"type": 3, "voice_item": voice})
        }
        MediaKind::File => json!({"type": 4, "file_item": {
            "media": cdn,
            "file_name": media.file_name.clone().unwrap_or_else(|| "file.bin".into()),
            "md5": md5,
            "len": media.bytes.len().to_string(),
        }}),
        MediaKind::Video => json!({"type": 5, "video_item": {
            "media": cdn, "video_size": cipher_len, "play_length": 0, "video_md5": md5,
        }}),
    };
    let key_hex = (encoding != KeyEncoding::Plain).then_some(key_hex);
    Ok(StoredMedia { item, param, key_hex })
}

/// Queues a user's message; its `context_token` is new.
pub fn push(shared: &Shared, s: &mut State, m: &InboundMessage) -> Result<Injected, String> {
    if m.from.is_empty() {
        return Err("a message needs a sender (from)".into());
    }
    if m.text.is_none() && m.media.is_none() {
        return Err("a message needs a text or media".into());
    }
    let mut items = Vec::new();
    if let Some(t) = &m.text {
        items.push(json!({"type": 1, "text_item": {"text": t}}));
    }
    let mut stored = None;
    if let Some(media) = &m.media {
        let media = media_item(shared, s, media)?;
        items.push(media.item.clone());
        stored = Some(media);
    }
    if let Some(r) = &m.ref_msg {
        items[0]["ref_msg"] = r.clone();
    }
    let now = now_ms();
    let message = json!({
        "from_user_id": m.from,
        "to_user_id": shared.id.bot_id,
        "create_time_ms": now,
        "update_time_ms": now,
        "message_type": 1,
        "message_state": 2,
        "item_list": items,
    });
    let mut injected = push_raw(s, message)?;
    if let Some(media) = stored {
        injected.encrypt_query_param = Some(media.param);
        injected.aes_key_hex = media.key_hex;
    }
    Ok(injected)
}

/// Queues a message as given, adding `seq`, `message_id` and `context_token` when it
/// lacks them (so a test can send odd shapes: ids as strings, unknown fields...).
pub fn push_raw(s: &mut State, mut message: Value) -> Result<Injected, String> {
    let Some(obj) = message.as_object_mut() else {
        return Err("a message is a JSON object".into());
    };
    let seq = s.inbox.len() as u64 + 1;
    obj.entry("seq").or_insert(json!(seq));
    if !obj.contains_key("message_id") {
        let id = s.allocate_message_id();
        obj.insert("message_id".into(), json!(id));
    }
    obj.entry("context_token").or_insert_with(|| json!(new_context_token()));
    let text_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let injected = Injected {
        seq,
        message_id: text_of(obj.get("message_id")),
        from_user_id: text_of(obj.get("from_user_id")),
        context_token: text_of(obj.get("context_token")),
        encrypt_query_param: None,
        aes_key_hex: None,
    };
    s.inbox.push(message);
    Ok(injected)
}
