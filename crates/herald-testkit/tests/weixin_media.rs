//! The fake iLink server's media path (§B.9), over HTTP with reqwest: the bot's uploads
//! (getuploadurl, CDN POST, the media item of sendmessage) and injected inbound media
//! in every key encoding, downloaded and decrypted byte for byte.

mod wx;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_testkit::weixin::{ConfigPatch, InboundMedia, KeyEncoding, MediaKind};
use serde_json::{Value, json};
use wx::{Bot, decrypt, encrypt, fake, md5_hex};

const ALICE: &str = "o9cq80alice0001@im.wechat";

struct Uploaded {
    key: [u8; 16],
    param: String,
    cipher_len: usize,
}

/// getuploadurl + CDN POST, as HA `_send_file` does.
async fn upload(bot: &Bot, plain: &[u8], media_type: u8, full_url: bool) -> Uploaded {
    let key: [u8; 16] = rand::random();
    let filekey = hex::encode(rand::random::<[u8; 16]>());
    let cipher = encrypt(&key, plain);
    let v = bot
        .ok(
            "getuploadurl",
            json!({
                "filekey": filekey, "media_type": media_type, "to_user_id": ALICE,
                "rawsize": plain.len(), "rawfilemd5": md5_hex(plain), "filesize": cipher.len(),
                "no_need_thumb": true, "aeskey": hex::encode(key),
            }),
        )
        .await;
    let url = if full_url {
        v["upload_full_url"].as_str().expect("upload_full_url").to_string()
    } else {
        format!(
            "{}/upload?encrypted_query_param={}&filekey={}",
            bot.cdn,
            wx::enc(v["upload_param"].as_str().unwrap()),
            wx::enc(&filekey)
        )
    };
    let r = bot
        .http
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .body(cipher.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.headers().get("x-error-message"));
    let param = r.headers()["x-encrypted-param"].to_str().unwrap().to_string();
    Uploaded { key, param, cipher_len: cipher.len() }
}

fn media_msg(item: Value) -> Value {
    json!({"msg": {
        "from_user_id": "", "to_user_id": ALICE,
        "client_id": format!("herald-test-{}", hex::encode(rand::random::<[u8; 16]>())),
        "message_type": 2, "message_state": 2, "item_list": [item],
    }})
}

fn cdn_media(u: &Uploaded) -> Value {
    json!({"encrypt_query_param": u.param, "aes_key": STANDARD.encode(hex::encode(u.key)), "encrypt_type": 1})
}

#[tokio::test]
async fn an_uploaded_image_is_sent_and_readable_byte_for_byte() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let plain = b"\x89PNG\r\n\x1a\n not really a png, 33 bytes".to_vec();
    let u = upload(&bot, &plain, 1, false).await;
    assert!(wx.calls_of("getuploadurl")[0].ret == Some(0));
    assert!(!wx.config().upload_full_url, "by default only upload_param is answered");
    let item = json!({"type": 2, "image_item": {"media": cdn_media(&u), "mid_size": u.cipher_len}});
    bot.ok("sendmessage", media_msg(item)).await;
    let sent = wx.sent_to(ALICE);
    assert_eq!(sent[0].kind, "image");
    assert_eq!(sent[0].encrypt_query_param.as_deref(), Some(u.param.as_str()));
    assert_eq!(wx.uploaded_bytes(&u.param).unwrap(), plain);
    let up = wx.upload(&u.param).unwrap();
    assert_eq!((up.media_type, up.rawsize, up.filesize), (1, plain.len() as u64, u.cipher_len as u64));
    // The CDN serves the ciphertext back.
    let r =
        bot.http.get(format!("{}/download?encrypted_query_param={}", bot.cdn, wx::enc(&u.param))).send().await.unwrap();
    assert_eq!(decrypt(&u.key, &r.bytes().await.unwrap()), plain);
}

#[tokio::test]
async fn file_video_and_voice_items_are_checked_against_the_upload() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    wx.set_config(&ConfigPatch { upload_full_url: Some(true), ..ConfigPatch::default() });
    let plain = vec![7u8; 1000];
    let f = upload(&bot, &plain, 3, true).await;
    let good = json!({"type": 4, "file_item": {"media": cdn_media(&f), "file_name": "r.pdf", "len": "1000"}});
    let (status, v) = bot
        .post(
            "sendmessage",
            media_msg(json!({"type": 4, "file_item": {"media": cdn_media(&f), "file_name": "r.pdf", "len": 1000}})),
        )
        .await;
    assert_eq!(status, 400, "len must be a string: {v}");
    bot.ok("sendmessage", media_msg(good)).await;
    assert_eq!(wx.sent_to(ALICE)[0].file_name.as_deref(), Some("r.pdf"));

    let v = upload(&bot, b"video", 2, false).await;
    let (status, _) = bot
        .post("sendmessage", media_msg(json!({"type": 5, "video_item": {"media": cdn_media(&v), "video_size": 5}})))
        .await;
    assert_eq!(status, 400, "video_size is the ciphertext size");
    let item = json!({"type": 5, "video_item": {"media": cdn_media(&v), "video_size": v.cipher_len, "play_length": 0}});
    bot.ok("sendmessage", media_msg(item)).await;

    let s = upload(&bot, b"#!SILK_V3", 4, false).await;
    let item = json!({"type": 3, "voice_item": {"media": cdn_media(&s), "encode_type": 6, "sample_rate": 24000}});
    bot.ok("sendmessage", media_msg(item)).await;
    let kinds: Vec<_> = wx.sent_to(ALICE).into_iter().map(|m| m.kind).collect();
    assert_eq!(kinds, ["file", "video", "voice"]);
}

#[tokio::test]
async fn wrong_keys_sizes_and_kinds_are_refused() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let u = upload(&bot, b"image bytes", 1, false).await;
    let with = |media: Value, mid: usize| json!({"type": 2, "image_item": {"media": media, "mid_size": mid}});
    let mut raw_key = cdn_media(&u);
    raw_key["aes_key"] = json!(STANDARD.encode(u.key));
    let mut other_key = cdn_media(&u);
    other_key["aes_key"] = json!(STANDARD.encode(hex::encode([9u8; 16])));
    let mut type0 = cdn_media(&u);
    type0["encrypt_type"] = json!(0);
    let mut unknown = cdn_media(&u);
    unknown["encrypt_query_param"] = json!("not-from-the-cdn");
    for (needle, item) in [
        ("grey", with(raw_key, u.cipher_len)),
        ("hex aeskey", with(other_key, u.cipher_len)),
        ("encrypt_type", with(type0, u.cipher_len)),
        ("x-encrypted-param", with(unknown, u.cipher_len)),
        ("mid_size", with(cdn_media(&u), 11)),
        ("media_type", json!({"type": 4, "file_item": {"media": cdn_media(&u), "file_name": "a", "len": "11"}})),
    ] {
        let (status, v) = bot.post("sendmessage", media_msg(item)).await;
        assert_eq!(status, 400, "{needle}: {v}");
        assert!(v["errmsg"].as_str().unwrap().contains(needle), "{needle}: {v}");
    }
    assert!(wx.sent().is_empty());
}

#[tokio::test]
async fn bad_uploads_are_refused_with_x_error_message() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let plain = b"some file";
    let key: [u8; 16] = rand::random();
    let filekey = hex::encode(rand::random::<[u8; 16]>());
    let base = json!({
        "filekey": filekey, "media_type": 3, "to_user_id": ALICE, "rawsize": plain.len(),
        "rawfilemd5": md5_hex(plain), "filesize": 16, "no_need_thumb": true, "aeskey": hex::encode(key),
    });
    for (field, value) in [
        ("filesize", json!(9)),
        ("aeskey", json!(STANDARD.encode(key))),
        ("media_type", json!(5)),
        ("no_need_thumb", json!(false)),
        ("rawfilemd5", json!("xyz")),
        ("filekey", json!("short")),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let (status, v) = bot.post("getuploadurl", body).await;
        assert_eq!(status, 400, "{field}: {v}");
    }
    let v = bot.ok("getuploadurl", base.clone()).await;
    let url = format!(
        "{}/upload?encrypted_query_param={}&filekey={}",
        bot.cdn,
        wx::enc(v["upload_param"].as_str().unwrap()),
        wx::enc(&filekey)
    );
    let post =
        |body: Vec<u8>| bot.http.post(url.clone()).header("Content-Type", "application/octet-stream").body(body).send();
    let r = post(encrypt(&[1; 16], plain)).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.headers()["x-error-message"].to_str().unwrap().contains("decrypt"));
    let r = post(encrypt(&key, b"other bytes")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "the MD5 differs");
    let r = post(vec![0; 32]).await.unwrap();
    assert!(r.headers()["x-error-message"].to_str().unwrap().contains("32 bytes"));
    let r = bot.http.put(url.clone()).body(encrypt(&key, plain)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "the CDN takes POST, not PUT");
    let r = post(encrypt(&key, plain)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The filekey is spent.
    let (status, _) = bot.post("getuploadurl", base).await;
    assert_eq!(status, 400);
}

/// The key of an inbound item the way §B.9 says a client finds it.
fn item_key(item: &Value, body: &str) -> Option<[u8; 16]> {
    if let Some(hex_key) = item[body]["aeskey"].as_str() {
        return hex::decode(hex_key).ok()?.try_into().ok();
    }
    let b = STANDARD.decode(item[body]["media"]["aes_key"].as_str()?).unwrap();
    if b.len() == 16 {
        return b.try_into().ok();
    }
    hex::decode(String::from_utf8(b).unwrap()).ok()?.try_into().ok()
}

#[tokio::test]
async fn inbound_media_in_every_key_encoding_decrypts_to_the_bytes() {
    let wx = fake().await;
    let bot = Bot::new(&wx);
    let cases = [
        (MediaKind::Image, None, "image_item", 2),
        (MediaKind::Image, Some(KeyEncoding::Base64Raw), "image_item", 2),
        (MediaKind::Image, Some(KeyEncoding::Base64Hex), "image_item", 2),
        (MediaKind::Image, Some(KeyEncoding::Plain), "image_item", 2),
        (MediaKind::File, None, "file_item", 4),
        (MediaKind::Voice, None, "voice_item", 3),
        (MediaKind::Video, Some(KeyEncoding::Base64Raw), "video_item", 5),
    ];
    for (i, (kind, key, _, _)) in cases.iter().enumerate() {
        let mut media = InboundMedia::new(*kind, format!("payload number {i}").into_bytes());
        media.key = *key;
        media.full_url = i == 0;
        if *kind == MediaKind::File {
            media = media.with_file_name("report.pdf");
        }
        if *kind == MediaKind::Voice {
            media.voice_text = Some("transcript".into());
        }
        wx.inject_media(ALICE, media);
    }
    assert!(
        wx.try_inject(&herald_testkit::weixin::InboundMessage::media(
            ALICE,
            InboundMedia::new(MediaKind::File, b"x".to_vec()).with_key(KeyEncoding::ImageHex)
        ))
        .is_err()
    );

    let (msgs, _, _) = bot.poll("").await;
    assert_eq!(msgs.len(), cases.len());
    for (i, ((_, key, body, ty), m)) in cases.iter().zip(&msgs).enumerate() {
        let item = &m["item_list"][0];
        assert_eq!(item["type"], *ty, "{item}");
        let media = &item[*body]["media"];
        assert_eq!(media["encrypt_type"], 1);
        let param = media["encrypt_query_param"].as_str().unwrap();
        let url = match media["full_url"].as_str() {
            Some(u) => u.to_string(),
            None => format!("{}/download?encrypted_query_param={}", bot.cdn, wx::enc(param)),
        };
        let bytes = bot.http.get(url).send().await.unwrap().bytes().await.unwrap();
        let want = format!("payload number {i}").into_bytes();
        match item_key(item, body) {
            Some(k) => assert_eq!(decrypt(&k, &bytes), want, "case {i}"),
            None => {
                assert_eq!(*key, Some(KeyEncoding::Plain));
                assert_eq!(bytes.to_vec(), want);
            }
        }
    }
    assert_eq!(msgs[0]["item_list"][0]["image_item"]["aeskey"].as_str().unwrap().len(), 32);
    assert!(msgs[0]["item_list"][0]["image_item"]["media"]["full_url"].is_string());
    let file = &msgs[4]["item_list"][0]["file_item"];
    assert_eq!((file["file_name"].as_str(), file["len"].as_str()), (Some("report.pdf"), Some("16")));
    assert_eq!(file["md5"], md5_hex(b"payload number 4"));
    assert_eq!(msgs[5]["item_list"][0]["voice_item"]["text"], "transcript");
    assert_eq!(msgs[5]["item_list"][0]["voice_item"]["encode_type"], 6);
    // Unknown downloads are 404.
    let r = bot.http.get(format!("{}/download?encrypted_query_param=nope", bot.cdn)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}
