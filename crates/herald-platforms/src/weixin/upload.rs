//! Outbound media (weixin-ilink.md §B.9 "Upload", hermes-gateway.md §12.6): encrypt
//! with a fresh AES-128 key, ask `getuploadurl` where to put it, `POST` the ciphertext
//! to the CDN, and build the message item from the `x-encrypted-param` the CDN answers.

use std::path::Path;
use std::time::Duration;

use herald_core::{MediaKind, SendError};
use serde_json::{Value, json};

use super::crypto;
use super::send::Outbound;
use super::types::{
    ITEM_FILE, ITEM_IMAGE, ITEM_VIDEO, ITEM_VOICE, UPLOAD_FILE, UPLOAD_IMAGE, UPLOAD_VIDEO, UPLOAD_VOICE,
};

/// Hermes's CDN upload timeout.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// TW's attempts for a CDN upload that fails with something other than a 4xx.
pub const UPLOAD_ATTEMPTS: u32 = 3;
/// The largest file herald uploads (TW's inbound cap, used both ways).
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

/// How a local file goes out: the upload `media_type` and the item `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Image,
    Video,
    /// Only `.silk` files; other audio goes as a file (Hermes).
    Voice,
    File,
}

impl Shape {
    pub fn of(kind: MediaKind, path: &Path) -> Shape {
        let silk = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("silk"));
        match kind {
            MediaKind::Photo | MediaKind::Sticker => Shape::Image,
            MediaKind::Video => Shape::Video,
            MediaKind::Voice if silk => Shape::Voice,
            MediaKind::Voice | MediaKind::Audio | MediaKind::Document => Shape::File,
        }
    }

    pub fn upload_type(self) -> i64 {
        match self {
            Shape::Image => UPLOAD_IMAGE,
            Shape::Video => UPLOAD_VIDEO,
            Shape::Voice => UPLOAD_VOICE,
            Shape::File => UPLOAD_FILE,
        }
    }
}

/// The message item of §12.6 for an uploaded file.
pub fn item(shape: Shape, download_param: &str, key: &[u8; 16], raw: &[u8], cipher_len: u64, file_name: &str) -> Value {
    let media = json!({
        "encrypt_query_param": download_param,
        "aes_key": crypto::encode_media_key(key),
        "encrypt_type": 1,
    });
    match shape {
        Shape::Image => json!({"type": ITEM_IMAGE, "image_item": {"media": media, "mid_size": cipher_len}}),
        Shape::Video => json!({"type": ITEM_VIDEO, "video_item": {"media": media, "video_size": cipher_len,
            "play_length": 0, "video_md5": crypto::md5_hex(raw)}}),
        Shape::Voice => json!({"type": ITEM_VOICE, "voice_item": {"media": media, "encode_type": 6,
            "bits_per_sample": 16, "sample_rate": 24000, "playtime": 0}}),
        Shape::File => json!({"type": ITEM_FILE, "file_item": {"media": media, "file_name": file_name,
            "len": raw.len().to_string()}}),
    }
}

/// Uploads `raw` for `peer` and returns the item to send.
pub async fn upload(out: &Outbound, peer: &str, kind: MediaKind, path: &Path, raw: &[u8]) -> Result<Value, SendError> {
    if raw.len() > MAX_UPLOAD_BYTES {
        return Err(SendError::TooLong(format!("{} bytes; herald uploads at most {MAX_UPLOAD_BYTES}", raw.len())));
    }
    let shape = Shape::of(kind, path);
    let key = crypto::new_key();
    let filekey = crypto::new_filekey();
    let cipher = crypto::encrypt(&key, raw);
    debug_assert_eq!(cipher.len() as u64, crypto::padded_size(raw.len() as u64));
    let request = json!({
        "filekey": filekey,
        "media_type": shape.upload_type(),
        "to_user_id": peer,
        "rawsize": raw.len(),
        "rawfilemd5": crypto::md5_hex(raw),
        "filesize": crypto::padded_size(raw.len() as u64),
        "no_need_thumb": true,
        "aeskey": hex::encode(key),
    });
    let answer = out.api.get_upload_url(request).await.map_err(|e| {
        if e.is_transient() { SendError::Transient(e.to_string()) } else { SendError::Permanent(e.to_string()) }
    })?;
    let url = match (answer.upload_full_url.filter(|u| !u.is_empty()), answer.upload_param.filter(|p| !p.is_empty())) {
        (Some(full), _) => full,
        (None, Some(param)) => {
            let mut u = reqwest::Url::parse(&format!("{}/upload", out.cdn_base_url))
                .map_err(|_| SendError::Permanent("WEIXIN_CDN_BASE_URL is not a usable URL".into()))?;
            u.query_pairs_mut().append_pair("encrypted_query_param", &param).append_pair("filekey", &filekey);
            u.to_string()
        }
        (None, None) => {
            return Err(SendError::Permanent("getuploadurl gave neither upload_full_url nor upload_param".into()));
        }
    };
    let param = post_to_cdn(out.api.http(), &url, cipher.clone()).await?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    Ok(item(shape, &param, &key, raw, cipher.len() as u64, file_name))
}

/// `POST`s the ciphertext; the `x-encrypted-param` of a 200 is the download parameter.
async fn post_to_cdn(http: &reqwest::Client, url: &str, cipher: Vec<u8>) -> Result<String, SendError> {
    let mut last = String::new();
    for attempt in 0..UPLOAD_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1) * attempt).await;
        }
        let resp = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(cipher.clone())
            .timeout(UPLOAD_TIMEOUT)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                // The URL carries the upload parameter: never into a message.
                last = format!("the CDN upload failed: {}", e.without_url());
                continue;
            }
        };
        let status = resp.status().as_u16();
        if status == 200 {
            return resp
                .headers()
                .get("x-encrypted-param")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| SendError::Permanent("the CDN answered 200 without x-encrypted-param".into()));
        }
        let reason = resp
            .headers()
            .get("x-error-message")
            .and_then(|v| v.to_str().ok())
            .map(|r| r.chars().take(200).collect::<String>())
            .unwrap_or_default();
        if (400..500).contains(&status) {
            return Err(SendError::Permanent(format!("the CDN refused the upload (HTTP {status}): {reason}")));
        }
        last = format!("the CDN upload answered HTTP {status}: {reason}");
    }
    Err(SendError::Transient(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_hermes() {
        assert_eq!(Shape::of(MediaKind::Photo, Path::new("a.png")), Shape::Image);
        assert_eq!(Shape::of(MediaKind::Voice, Path::new("a.SILK")), Shape::Voice);
        assert_eq!(Shape::of(MediaKind::Voice, Path::new("a.ogg")), Shape::File);
        assert_eq!(Shape::of(MediaKind::Audio, Path::new("a.mp3")), Shape::File);
        assert_eq!(Shape::of(MediaKind::Video, Path::new("a.mp4")).upload_type(), 2);
        assert_eq!(Shape::File.upload_type(), 3);
        assert_eq!(Shape::Voice.upload_type(), 4);
    }

    #[test]
    fn items_have_the_shapes_of_the_reference() {
        let key = [7u8; 16];
        let raw = b"hello";
        let encoded = crypto::encode_media_key(&key);
        let img = item(Shape::Image, "p", &key, raw, 16, "x.jpg");
        assert_eq!(
            img,
            json!({"type": 2, "image_item": {"media": {"encrypt_query_param": "p", "aes_key": encoded,
            "encrypt_type": 1}, "mid_size": 16}})
        );
        let file = item(Shape::File, "p", &key, raw, 16, "r.pdf");
        assert_eq!(file["file_item"]["len"], "5");
        assert_eq!(file["file_item"]["file_name"], "r.pdf");
        let video = item(Shape::Video, "p", &key, raw, 16, "v.mp4");
        assert_eq!(video["video_item"]["video_size"], 16);
        assert_eq!(video["video_item"]["video_md5"], crypto::md5_hex(raw));
        let voice = item(Shape::Voice, "p", &key, raw, 16, "v.silk");
        assert_eq!(voice["voice_item"]["encode_type"], 6);
        assert_eq!(voice["voice_item"]["sample_rate"], 24000);
        // The key goes as base64 of its hex text: 44 characters.
        assert_eq!(encoded.len(), 44);
    }
}
