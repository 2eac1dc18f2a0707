//! A hand-written iLink client for the fake server's tests: every header and field
//! spelled out as §B.2 says, so a test can also leave one out.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_testkit::weixin::{ConfigPatch, FakeWeixin};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

/// A fake whose empty polls come back quickly (the tests do not wait out 20 s).
pub async fn fake() -> FakeWeixin {
    let wx = FakeWeixin::start().await;
    wx.set_config(&ConfigPatch { poll_hold_ms: Some(300), ..ConfigPatch::default() });
    wx
}

pub struct Bot {
    pub http: reqwest::Client,
    pub base: String,
    pub cdn: String,
    pub token: String,
}

impl Bot {
    pub fn new(wx: &FakeWeixin) -> Bot {
        Bot { http: client(), base: wx.base_url(), cdn: wx.cdn_base_url(), token: wx.token().to_string() }
    }

    /// The headers of TW's `buildHeaders`, with a fresh UIN.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Content-Type", HeaderValue::from_static("application/json"));
        h.insert("AuthorizationType", HeaderValue::from_static("ilink_bot_token"));
        h.insert("Authorization", HeaderValue::from_str(&format!("Bearer {}", self.token)).unwrap());
        let uin = STANDARD.encode(rand::random::<u32>().to_string());
        h.insert("X-WECHAT-UIN", HeaderValue::from_str(&uin).unwrap());
        h.insert("iLink-App-Id", HeaderValue::from_static("bot"));
        h.insert("iLink-App-ClientVersion", HeaderValue::from_static("132105"));
        h
    }

    /// POSTs `body` plus `base_info` with `headers`; the status and the JSON answer.
    pub async fn post_with(&self, endpoint: &str, headers: HeaderMap, mut body: Value) -> (u16, Value) {
        if body.get("base_info").is_none() {
            body["base_info"] = json!({"channel_version": "2.4.9", "bot_agent": "HeraldTest/1.0"});
        }
        let resp = self
            .http
            .post(format!("{}/ilink/bot/{endpoint}", self.base))
            .headers(headers)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn post(&self, endpoint: &str, body: Value) -> (u16, Value) {
        self.post_with(endpoint, self.headers(), body).await
    }

    /// A POST that must work: HTTP 200, `ret` 0.
    pub async fn ok(&self, endpoint: &str, body: Value) -> Value {
        let (status, v) = self.post(endpoint, body.clone()).await;
        assert_eq!(status, 200, "{endpoint} {body}: {v}");
        assert_eq!(v["ret"], 0, "{endpoint} {body}: {v}");
        v
    }

    /// A POST answered HTTP 200 with an iLink body, whatever its `ret`.
    pub async fn ok_or_ret(&self, endpoint: &str, body: Value) -> Value {
        let (status, v) = self.post(endpoint, body.clone()).await;
        assert_eq!(status, 200, "{endpoint} {body}: {v}");
        v
    }

    /// `getupdates` with this cursor: (msgs, new cursor, the raw answer).
    pub async fn poll(&self, cursor: &str) -> (Vec<Value>, String, Value) {
        let v = self.ok("getupdates", json!({"get_updates_buf": cursor})).await;
        let msgs = v["msgs"].as_array().cloned().unwrap_or_default();
        (msgs, v["get_updates_buf"].as_str().unwrap().to_string(), v)
    }

    /// A text message body for `sendmessage`.
    pub fn text_msg(to: &str, text: &str, token: Option<&str>) -> Value {
        let mut msg = json!({
            "from_user_id": "",
            "to_user_id": to,
            "client_id": format!("herald-test-{}", hex::encode(rand::random::<[u8; 16]>())),
            "message_type": 2,
            "message_state": 2,
            "item_list": [{"type": 1, "text_item": {"text": text}}],
        });
        if let Some(t) = token {
            msg["context_token"] = json!(t);
        }
        json!({"msg": msg})
    }

    /// The QR GETs' headers.
    pub fn qr_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("iLink-App-Id", HeaderValue::from_static("bot"));
        h.insert("iLink-App-ClientVersion", HeaderValue::from_static("131584"));
        h
    }
}

pub fn encrypt(key: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let pad = 16 - plain.len() % 16;
    let mut out = plain.to_vec();
    out.extend(std::iter::repeat_n(pad as u8, pad));
    for block in out.chunks_exact_mut(16) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

pub fn decrypt(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut out = data.to_vec();
    for block in out.chunks_exact_mut(16) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = *out.last().unwrap() as usize;
    assert!((1..=16).contains(&pad) && out[out.len() - pad..].iter().all(|&b| b as usize == pad), "bad padding");
    out.truncate(out.len() - pad);
    out
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

/// Form-urlencodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
