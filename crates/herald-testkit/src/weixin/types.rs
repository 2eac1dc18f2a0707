//! The values tests hand to the fake iLink server and read back from it (in process and,
//! serialised as JSON, over the control interface).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Byte fields travel as standard base64 in the control interface's JSON.
pub(crate) mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(b) => s.serialize_some(&STANDARD.encode(b)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => STANDARD.decode(text.as_bytes()).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// What an endpoint answers instead of working, once per injected copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 200 with this `ret` (and `errcode` when given) and `errmsg`, as iLink reports
    /// its errors.
    Ret {
        ret: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errcode: Option<i64>,
        #[serde(default)]
        errmsg: String,
    },
    /// This HTTP status with a plain-text body (a gateway error in front of iLink).
    Http {
        status: u16,
        #[serde(default)]
        body: String,
    },
    /// Waits this long, then answers as if no fault was injected.
    Delay { ms: u64 },
    /// HTTP 200 with an empty body (IH reports `sendmessage` succeeding that way).
    EmptyBody,
}

impl Fault {
    /// `ret = errcode = -14`: the session expired (the bot token is stale).
    pub fn session_expired() -> Fault {
        Fault::Ret { ret: -14, errcode: Some(-14), errmsg: "session timeout".into() }
    }

    /// `ret = -2` with this `errmsg` (observed: `""`, `"prepare failed"`, `"unknown error"`).
    pub fn minus2(errmsg: impl Into<String>) -> Fault {
        Fault::Ret { ret: -2, errcode: None, errmsg: errmsg.into() }
    }

    pub fn http(status: u16) -> Fault {
        Fault::Http { status, body: format!("fake iLink: injected HTTP {status}") }
    }

    pub fn delay(by: Duration) -> Fault {
        Fault::Delay { ms: u64::try_from(by.as_millis()).unwrap_or(u64::MAX) }
    }
}

/// One answer of `get_qrcode_status` in a QR's scripted progression. Each poll takes the
/// next step; the last one repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QrStep {
    Wait,
    /// "scaned" (sic).
    Scaned,
    /// Done: the answer carries `bot_token`, `baseurl`, `ilink_bot_id`, `ilink_user_id`.
    Confirmed,
    Expired,
    /// The answer carries `redirect_host` = the fake's second listener (`127.0.0.1:PORT`).
    ScanedButRedirect,
    /// Answered until a poll carries `verify_code` equal to `code`; then the poll answers
    /// the step after this one. Too many wrong codes answer `verify_code_blocked`.
    NeedVerifycode {
        code: String,
    },
    VerifyCodeBlocked,
    BindedRedirect,
}

impl QrStep {
    pub fn status(&self) -> &'static str {
        match self {
            QrStep::Wait => "wait",
            QrStep::Scaned => "scaned",
            QrStep::Confirmed => "confirmed",
            QrStep::Expired => "expired",
            QrStep::ScanedButRedirect => "scaned_but_redirect",
            QrStep::NeedVerifycode { .. } => "need_verifycode",
            QrStep::VerifyCodeBlocked => "verify_code_blocked",
            QrStep::BindedRedirect => "binded_redirect",
        }
    }
}

/// A QR code the fake issued and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrLogin {
    pub qrcode: String,
    pub qrcode_img_content: String,
    /// `GET` (old clients) or `POST`.
    pub method: String,
    /// The `local_token_list` of a POST.
    pub local_token_list: Option<Vec<String>>,
    /// The steps not yet answered.
    pub steps: Vec<QrStep>,
    /// Every status answered, in order.
    pub answered: Vec<String>,
    /// Every `verify_code` a poll carried, in order.
    pub verify_codes: Vec<String>,
    /// Wrong codes so far at the current `need_verifycode` step.
    pub wrong_codes: u32,
}

/// What the bot sent with `sendmessage` (only accepted sends are kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// 1 for the bot's first accepted message, in order over all peers.
    pub seq: u64,
    /// The `message_id` the fake answered, a uint64 in decimal.
    pub message_id: String,
    pub client_id: String,
    pub to_user_id: String,
    /// The `context_token` the send carried (`None`: sent without one, degraded).
    pub context_token: Option<String>,
    /// `text`, `image`, `voice`, `file` or `video`.
    pub kind: String,
    /// `text_item.text` of a text message.
    pub text: Option<String>,
    /// `file_item.file_name` of a file.
    pub file_name: Option<String>,
    /// `media.encrypt_query_param` of a media message: the key of its upload
    /// ([`FakeWeixin::upload`](super::FakeWeixin::upload)).
    pub encrypt_query_param: Option<String>,
    /// The whole `msg` object as sent.
    pub msg: Value,
}

/// A typing indicator the bot set with an accepted `sendtyping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingEvent {
    pub seq: u64,
    pub ilink_user_id: String,
    /// 1 typing, 2 cancel.
    pub status: u8,
}

/// A media upload: announced by `getuploadurl`, filled by the CDN POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub filekey: String,
    /// The upload enum: 1 image, 2 video, 3 file, 4 voice.
    pub media_type: u8,
    pub to_user_id: String,
    pub rawsize: u64,
    pub rawfilemd5: String,
    pub filesize: u64,
    /// The AES key the bot announced, hex.
    pub aeskey: String,
    pub upload_param: String,
    /// The `x-encrypted-param` the CDN answered, once the ciphertext arrived.
    pub encrypt_query_param: Option<String>,
    /// The decrypted bytes, once the ciphertext arrived (base64 in JSON).
    #[serde(with = "b64::option", default)]
    pub plain: Option<Vec<u8>>,
}

/// The kinds of inbound media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Voice,
    File,
    Video,
}

/// How an injected media item carries its AES key (§B.9 lists all three on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEncoding {
    /// `image_item.aeskey` = 32 hex chars (images only); `media.aes_key` absent.
    ImageHex,
    /// `media.aes_key` = base64 of the 32-char hex string (what senders use).
    Base64Hex,
    /// `media.aes_key` = base64 of the 16 raw key bytes (seen for images).
    Base64Raw,
    /// No key: the CDN holds the plain bytes (images with no key are downloaded plain).
    Plain,
}

/// Media in an injected user message. The fake encrypts it, stores it on its CDN and
/// puts the matching item in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMedia {
    pub kind: MediaKind,
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
    /// A file's `file_name` (default `file.bin`).
    #[serde(default)]
    pub file_name: Option<String>,
    /// Default: `ImageHex` for images, `Base64Hex` for the rest.
    #[serde(default)]
    pub key: Option<KeyEncoding>,
    /// A voice note's `voice_item.text` (WeChat's own transcript).
    #[serde(default)]
    pub voice_text: Option<String>,
    /// Also put `media.full_url` (the fake CDN's download URL).
    #[serde(default)]
    pub full_url: bool,
}

impl InboundMedia {
    pub fn new(kind: MediaKind, bytes: impl Into<Vec<u8>>) -> InboundMedia {
        InboundMedia { kind, bytes: bytes.into(), file_name: None, key: None, voice_text: None, full_url: false }
    }

    pub fn with_key(mut self, key: KeyEncoding) -> InboundMedia {
        self.key = Some(key);
        self
    }

    pub fn with_file_name(mut self, name: impl Into<String>) -> InboundMedia {
        self.file_name = Some(name.into());
        self
    }
}

/// A user's message to inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The sender's `from_user_id` (`…@im.wechat`).
    pub from: String,
    /// A TEXT item (first in `item_list`).
    #[serde(default)]
    pub text: Option<String>,
    /// A media item (after the text).
    #[serde(default)]
    pub media: Option<InboundMedia>,
    /// A `ref_msg` (quote) put on the first item, as sent.
    #[serde(default)]
    pub ref_msg: Option<Value>,
}

impl InboundMessage {
    pub fn text(from: impl Into<String>, text: impl Into<String>) -> InboundMessage {
        InboundMessage { from: from.into(), text: Some(text.into()), media: None, ref_msg: None }
    }

    pub fn media(from: impl Into<String>, media: InboundMedia) -> InboundMessage {
        InboundMessage { from: from.into(), text: None, media: Some(media), ref_msg: None }
    }
}

/// What an injection queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    /// The message's `seq` (its place in the bot's update stream).
    pub seq: u64,
    /// Its `message_id`, a uint64 in decimal (above 2^53, so a client parsing it through
    /// a float gets it wrong).
    pub message_id: String,
    pub from_user_id: String,
    /// The `context_token` it carries; replies must echo it.
    pub context_token: String,
    /// The media's `encrypt_query_param`, when it has media.
    pub encrypt_query_param: Option<String>,
    /// The media's AES key, hex (`None` for plain media).
    pub aes_key_hex: Option<String>,
}

/// One request to an iLink or CDN endpoint, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub seq: u64,
    /// `getupdates`, `sendmessage`, `getuploadurl`, `getconfig`, `sendtyping`,
    /// `notifystart`, `notifystop`, `get_bot_qrcode`, `get_qrcode_status`,
    /// `cdn_upload`, `cdn_download`, or the path when unknown.
    pub endpoint: String,
    /// `main`, or `redirect` for the second listener (the `redirect_host`).
    pub listener: String,
    pub method: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The `ret` answered, when the answer was iLink JSON.
    pub ret: Option<i64>,
    /// Why the fake refused the request as malformed (HTTP 400), if it did.
    pub violation: Option<String>,
    /// The JSON body (CDN bodies are not kept; `null` when there was none).
    pub body: Value,
}

/// Settings that can change while the server runs (`POST /_control/config` takes any
/// subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// How long `getupdates` holds a request with nothing to deliver.
    pub poll_hold_ms: u64,
    /// The `longpolling_timeout_ms` every `getupdates` answer suggests.
    pub longpolling_timeout_ms: u64,
    /// At most this many messages per `getupdates` answer.
    pub batch_limit: usize,
    /// `getuploadurl` answers `upload_full_url` (besides `upload_param`).
    pub upload_full_url: bool,
    /// A `sendmessage` without `context_token` is refused with `-2` (the real service
    /// accepts it as a degraded fallback, which is the default here).
    pub require_context_token: bool,
    /// Wrong verify codes before `verify_code_blocked`.
    pub verify_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            poll_hold_ms: 20_000,
            longpolling_timeout_ms: 35_000,
            batch_limit: 100,
            upload_full_url: false,
            require_context_token: false,
            verify_attempts: 3,
        }
    }
}

/// A partial [`Config`] for `POST /_control/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_hold_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longpolling_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_full_url: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_context_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_attempts: Option<u32>,
}

impl ConfigPatch {
    pub fn apply(&self, c: &mut Config) {
        if let Some(v) = self.poll_hold_ms {
            c.poll_hold_ms = v;
        }
        if let Some(v) = self.longpolling_timeout_ms {
            c.longpolling_timeout_ms = v;
        }
        if let Some(v) = self.batch_limit {
            c.batch_limit = v.max(1);
        }
        if let Some(v) = self.upload_full_url {
            c.upload_full_url = v;
        }
        if let Some(v) = self.require_context_token {
            c.require_context_token = v;
        }
        if let Some(v) = self.verify_attempts {
            c.verify_attempts = v;
        }
    }
}

/// Who the fake is, as `GET /_control/info` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// `http://127.0.0.1:PORT`, the value for `WEIXIN_BASE_URL`.
    pub base_url: String,
    /// `http://127.0.0.1:PORT/c2c`, the value for `WEIXIN_CDN_BASE_URL`.
    pub cdn_base_url: String,
    /// The second listener, what `scaned_but_redirect` names: `127.0.0.1:PORT`.
    pub redirect_host: String,
    /// `<bot id>@im.bot:<secret>`, the value for `WEIXIN_TOKEN`.
    pub token: String,
    /// `<bot id>@im.bot`, the value for `WEIXIN_ACCOUNT_ID`.
    pub bot_id: String,
    /// The user who "scanned" the QR (`ilink_user_id` of a confirmed login).
    pub owner_user_id: String,
    /// The `SKRouteTag` every request must carry, if one is configured.
    pub route_tag: Option<String>,
}
