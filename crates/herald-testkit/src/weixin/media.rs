//! Media (§B.9): `getuploadurl`, the CDN's `/upload` and `/download`, and the check of
//! media items in `sendmessage` against what was uploaded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::bot::ItemSummary;
use super::checks::{Refusal, string_field, uint_field};
use super::crypto;
use super::server::{Ctx, Reply};
use super::state::{Blob, Shared, State};
use super::types::Upload;

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Form-urlencodes a query value (opaque parameters contain `+`, `/` and `=`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A fresh opaque CDN parameter: base64 with `+`, `/` or `=` in it, so a client that
/// does not URL-encode it breaks.
pub fn new_param(len: usize) -> String {
    loop {
        let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        let p = STANDARD.encode(&bytes);
        if p.contains(['+', '/']) {
            return p;
        }
    }
}

pub fn get_upload_url(shared: &Shared, s: &mut State, body: &Value) -> Reply {
    let checked = (|| {
        let filekey = string_field(body, "", "filekey")?;
        if !is_hex32(filekey) {
            return Err(Refusal::Violation("filekey is not 32 hex chars (16 random bytes)".into()));
        }
        if s.uploads.iter().any(|u| u.filekey == filekey) {
            return Err(Refusal::Violation(format!("filekey {filekey} was already used")));
        }
        let media_type = uint_field(body, "", "media_type")?;
        if !(1..=4).contains(&media_type) {
            return Err(Refusal::Violation(format!("media_type {media_type}: 1 image, 2 video, 3 file, 4 voice")));
        }
        let to = string_field(body, "", "to_user_id")?;
        let rawsize = uint_field(body, "", "rawsize")?;
        let rawfilemd5 = string_field(body, "", "rawfilemd5")?;
        if !is_hex32(rawfilemd5) {
            return Err(Refusal::Violation("rawfilemd5 is not a hex MD5".into()));
        }
        let filesize = uint_field(body, "", "filesize")?;
        if filesize != crypto::padded_size(rawsize) {
            return Err(Refusal::Violation(format!(
                "filesize is {filesize}; the AES-128-ECB/PKCS#7 ciphertext of {rawsize} bytes is {}",
                crypto::padded_size(rawsize)
            )));
        }
        // Thumbnails are real protocol, but every client found sends none.
        if body.get("no_need_thumb") != Some(&json!(true)) {
            return Err(Refusal::Violation("no_need_thumb is not true (the fake takes no thumbnails)".into()));
        }
        let aeskey = string_field(body, "", "aeskey")?;
        if !is_hex32(aeskey) {
            return Err(Refusal::Violation("aeskey is not the 16-byte key as 32 hex chars".into()));
        }
        Ok(Upload {
            filekey: filekey.to_string(),
            media_type: media_type as u8,
            to_user_id: to.to_string(),
            rawsize,
            rawfilemd5: rawfilemd5.to_ascii_lowercase(),
            filesize,
            aeskey: aeskey.to_ascii_lowercase(),
            upload_param: new_param(48),
            encrypt_query_param: None,
            plain: None,
        })
    })();
    let upload = match checked {
        Ok(u) => u,
        Err(r) => return Reply::refusal(r),
    };
    let mut answer = json!({"ret": 0, "upload_param": upload.upload_param});
    if s.config.upload_full_url {
        answer["upload_full_url"] = json!(format!(
            "{}/upload?encrypted_query_param={}&filekey={}",
            shared.cdn_base_url(),
            url_encode(&upload.upload_param),
            url_encode(&upload.filekey)
        ));
    }
    s.uploads.push(upload);
    Reply::json(&answer)
}

/// A CDN refusal: the reason goes in `x-error-message`, as the real CDN does.
fn cdn_error(status: u16, why: &str) -> Reply {
    let mut r = Reply::status(status, why);
    r.headers.push(("x-error-message", why.to_string()));
    if status == 400 {
        r.violation = Some(why.to_string());
    }
    r
}

pub fn cdn_upload(shared: &Shared, ctx: &Ctx) -> Reply {
    if ctx.method != axum::http::Method::POST {
        // The real CDN answers PUT with 404 (§B.9).
        return cdn_error(404, "the CDN takes POST");
    }
    let content_type = ctx.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/octet-stream") {
        return cdn_error(400, "Content-Type is not application/octet-stream");
    }
    let (Some(param), Some(filekey)) = (ctx.query("encrypted_query_param"), ctx.query("filekey")) else {
        return cdn_error(400, "encrypted_query_param and filekey are required");
    };
    shared.update(|s| {
        let Some(index) = s.uploads.iter().position(|u| u.upload_param == param && u.filekey == filekey) else {
            return cdn_error(400, "no getuploadurl issued this encrypted_query_param with this filekey");
        };
        let upload = &s.uploads[index];
        if let Some(done) = &upload.encrypt_query_param {
            // A retry of an upload that worked: the same answer.
            let mut r = Reply::status(200, "");
            r.headers.push(("x-encrypted-param", done.clone()));
            return r;
        }
        if ctx.body.len() as u64 != upload.filesize {
            return cdn_error(
                400,
                &format!("the body is {} bytes, getuploadurl said {}", ctx.body.len(), upload.filesize),
            );
        }
        let key: [u8; 16] = match hex::decode(&upload.aeskey).ok().and_then(|k| k.try_into().ok()) {
            Some(k) => k,
            None => return cdn_error(400, "the announced aeskey is not 16 bytes"),
        };
        let plain = match crypto::decrypt(&key, &ctx.body) {
            Ok(p) => p,
            Err(e) => return cdn_error(400, &format!("the body does not decrypt with the announced aeskey: {e}")),
        };
        if plain.len() as u64 != upload.rawsize {
            return cdn_error(400, &format!("the plaintext is {} bytes, rawsize said {}", plain.len(), upload.rawsize));
        }
        if crypto::md5_hex(&plain) != upload.rawfilemd5 {
            return cdn_error(400, "the plaintext's MD5 is not rawfilemd5");
        }
        let download = new_param(64);
        s.blobs.insert(download.clone(), Blob { cipher: ctx.body.to_vec(), upload: Some(index) });
        let upload = &mut s.uploads[index];
        upload.encrypt_query_param = Some(download.clone());
        upload.plain = Some(plain);
        let mut r = Reply::status(200, "");
        r.headers.push(("x-encrypted-param", download));
        r
    })
}

pub fn cdn_download(shared: &Shared, ctx: &Ctx) -> Reply {
    if ctx.method != axum::http::Method::GET {
        return cdn_error(404, "downloads are GET");
    }
    let Some(param) = ctx.query("encrypted_query_param") else {
        return cdn_error(400, "encrypted_query_param is required");
    };
    match shared.lock().blobs.get(param) {
        Some(blob) => Reply::bytes(blob.cipher.clone()),
        None => cdn_error(404, "no such media"),
    }
}

/// The item name and upload `media_type` of a message item type.
fn item_shape(item_type: u64) -> (&'static str, &'static str, u8) {
    match item_type {
        2 => ("image_item", "image", 1),
        3 => ("voice_item", "voice", 4),
        4 => ("file_item", "file", 3),
        _ => ("video_item", "video", 2),
    }
}

/// A media item of `sendmessage`: its media must be an upload of this bot to this
/// peer, with the key encoded as base64 of its hex (§B.9 step 7) and the sizes right.
pub fn check_item(s: &State, item: &Value, item_type: u64, to: &str) -> Result<ItemSummary, Refusal> {
    let v = |why: String| Refusal::Violation(why);
    let (name, kind, media_type) = item_shape(item_type);
    let body = item.get(name).ok_or_else(|| v(format!("a type {item_type} item has no {name}")))?;
    let media = body.get("media").ok_or_else(|| v(format!("{name}.media is missing")))?;
    let param = string_field(media, &format!("{name}.media."), "encrypt_query_param")?;
    let upload = s
        .blobs
        .get(param)
        .and_then(|b| b.upload)
        .map(|i| &s.uploads[i])
        .ok_or_else(|| v(format!("{name}.media.encrypt_query_param is no x-encrypted-param the CDN answered")))?;
    let aes_key = string_field(media, &format!("{name}.media."), "aes_key")?;
    let decoded = STANDARD.decode(aes_key).map_err(|_| v(format!("{name}.media.aes_key is not base64")))?;
    if decoded.len() == 16 {
        return Err(v(format!(
            "{name}.media.aes_key is base64 of the raw key; it must be base64 of its hex (raw renders grey)"
        )));
    }
    let hex_key = String::from_utf8(decoded).ok().filter(|h| is_hex32(h));
    if hex_key.map(|h| h.to_ascii_lowercase()).as_deref() != Some(upload.aeskey.as_str()) {
        return Err(v(format!("{name}.media.aes_key is not base64 of the hex aeskey given to getuploadurl")));
    }
    let encrypt_type = uint_field(media, &format!("{name}.media."), "encrypt_type")?;
    if encrypt_type != 1 {
        return Err(v(format!("{name}.media.encrypt_type is {encrypt_type}; senders use 1")));
    }
    if upload.to_user_id != to {
        return Err(v(format!("the media was uploaded for {}, not for {to}", upload.to_user_id)));
    }
    if upload.media_type != media_type {
        return Err(v(format!("a {kind} item carries media uploaded as media_type {}", upload.media_type)));
    }
    let mut file_name = None;
    match kind {
        "image" => {
            let mid = uint_field(body, "image_item.", "mid_size")?;
            if mid != upload.filesize {
                return Err(v(format!("image_item.mid_size is {mid}, the ciphertext is {}", upload.filesize)));
            }
        }
        "video" => {
            let size = uint_field(body, "video_item.", "video_size")?;
            if size != upload.filesize {
                return Err(v(format!("video_item.video_size is {size}, the ciphertext is {}", upload.filesize)));
            }
        }
        "file" => {
            file_name = Some(string_field(body, "file_item.", "file_name")?.to_string());
            match body.get("len") {
                Some(Value::String(len)) if *len == upload.rawsize.to_string() => {}
                other => {
                    return Err(v(format!(
                        "file_item.len is {other:?}; it is the plaintext size as a string, {:?}",
                        upload.rawsize.to_string()
                    )));
                }
            }
        }
        _ => {}
    }
    Ok(ItemSummary { kind, text: None, file_name, encrypt_query_param: Some(param.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_escapes_base64_punctuation() {
        assert_eq!(url_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
        assert!(new_param(48).contains(['+', '/']));
    }
}
