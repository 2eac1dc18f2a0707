//! The iLink wire model (weixin-ilink.md §B.4, §B.7), as herald reads it.
//!
//! Tolerant where the servers and clients in the wild disagree, strict where a value
//! would be misread:
//! - every uint64 id (`message_id`, `msg_id`, `svr_id`, `seq`) is kept as text whether
//!   it comes as a JSON number or a string; numbers are taken exactly as written (a
//!   fraction or an exponent is refused rather than rounded through `f64`);
//! - unknown fields are ignored, missing and `null` fields take their defaults;
//! - a field of the wrong type fails that one message: `getupdates` answers keep each
//!   message as raw text ([`GetUpdatesResponse::msgs`]) and [`parse_message`] reads them
//!   one by one, so the rest of the batch is still delivered.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

/// `message_type` of a user's message.
pub const MESSAGE_TYPE_USER: i64 = 1;
/// `message_type` of a bot's message.
pub const MESSAGE_TYPE_BOT: i64 = 2;
/// `message_state` of a finished message.
pub const MESSAGE_STATE_FINISH: i64 = 2;

/// Item `type` values.
pub const ITEM_TEXT: i64 = 1;
pub const ITEM_IMAGE: i64 = 2;
pub const ITEM_VOICE: i64 = 3;
pub const ITEM_FILE: i64 = 4;
pub const ITEM_VIDEO: i64 = 5;

/// `media_type` of `getuploadurl` (a different numbering from the item types).
pub const UPLOAD_IMAGE: i64 = 1;
pub const UPLOAD_VIDEO: i64 = 2;
pub const UPLOAD_FILE: i64 = 3;
pub const UPLOAD_VOICE: i64 = 4;

/// `ret`/`errcode` of an expired session or a stale bot token.
pub const SESSION_EXPIRED: i64 = -14;
/// `ret`/`errcode` of a refused send (rate limit, stale context token, degraded session).
pub const SEND_REFUSED: i64 = -2;

// ---------------------------------------------------------------------------------
// Field readers.

/// A uint64 id: an integer as written, or a string; `null` and `""` are absent.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer id or a string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            // serde_json hands over `f64` only for a fraction, an exponent or a number
            // beyond u64: none is an id, and rounding would invent one.
            Err(E::custom("an id that is not a whole number within uint64"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            Ok(if v.is_empty() { None } else { Some(v.to_string()) })
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// Text; a number is taken as its decimal text (`file_item.len` is a string in the
/// reference and a number in some servers).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// A whole number, also written as a numeric string or an integral float (`2.0`).
fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(|_| E::custom("a number beyond the range of int64"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
                Ok(Some(v as i64))
            } else {
                Err(E::custom("a number that is not a whole number"))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse().map(Some).map_err(|_| E::custom("a string that is not a whole number"))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// A flag, also written `0`/`1`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true, false, 0 or 1")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v != 0))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v != 0))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

/// A list; `null` is empty.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------
// Answers.

/// `ret`, `errcode`, `errmsg`: the part of every answer that says whether it worked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Status {
    #[serde(default, deserialize_with = "int")]
    pub ret: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub errcode: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub errmsg: Option<String>,
}

impl Status {
    /// The first non-zero of `ret` and `errcode`.
    pub fn code(&self) -> Option<i64> {
        [self.ret, self.errcode].into_iter().flatten().find(|c| *c != 0)
    }
}

/// The answer of `getupdates`. The messages stay raw until [`parse_message`].
#[derive(Debug, Deserialize)]
pub struct GetUpdatesResponse {
    #[serde(default, deserialize_with = "list")]
    pub msgs: Vec<Box<RawValue>>,
    #[serde(default, deserialize_with = "text")]
    pub get_updates_buf: Option<String>,
    #[serde(default, deserialize_with = "int")]
    pub longpolling_timeout_ms: Option<i64>,
}

/// The answer of `sendmessage` (may be an empty object).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SendMessageResponse {
    #[serde(default, deserialize_with = "id")]
    pub message_id: Option<String>,
}

/// The answer of `getuploadurl`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UploadUrlResponse {
    #[serde(default, deserialize_with = "text")]
    pub upload_param: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub thumb_upload_param: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub upload_full_url: Option<String>,
}

/// The answer of `getconfig`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigResponse {
    #[serde(default, deserialize_with = "text")]
    pub typing_ticket: Option<String>,
}

// ---------------------------------------------------------------------------------
// Messages.

/// `WeixinMessage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WeixinMessage {
    #[serde(default, deserialize_with = "id")]
    pub seq: Option<String>,
    #[serde(default, deserialize_with = "id")]
    pub message_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub from_user_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub to_user_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "int")]
    pub create_time_ms: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub update_time_ms: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub delete_time_ms: Option<i64>,
    #[serde(default, deserialize_with = "id")]
    pub session_id: Option<String>,
    #[serde(default, deserialize_with = "id")]
    pub group_id: Option<String>,
    /// Hermes also reads `room_id` and `chat_room_id` for groups.
    #[serde(default, deserialize_with = "id")]
    pub room_id: Option<String>,
    #[serde(default, deserialize_with = "id")]
    pub chat_room_id: Option<String>,
    #[serde(default, deserialize_with = "int")]
    pub message_type: Option<i64>,
    /// Hermes's name for `message_type`.
    #[serde(default, deserialize_with = "int")]
    pub msg_type: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub message_state: Option<i64>,
    #[serde(default, deserialize_with = "list")]
    pub item_list: Vec<MessageItem>,
    #[serde(default, deserialize_with = "text")]
    pub context_token: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub run_id: Option<String>,
}

impl WeixinMessage {
    /// `message_type`, or Hermes's `msg_type`.
    pub fn kind(&self) -> Option<i64> {
        self.message_type.or(self.msg_type)
    }

    /// The group this message was written in, if the server says so.
    pub fn room(&self) -> Option<&str> {
        [&self.room_id, &self.chat_room_id, &self.group_id].into_iter().flatten().map(String::as_str).next()
    }
}

/// `MessageItem`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MessageItem {
    #[serde(rename = "type", default, deserialize_with = "int")]
    pub kind: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub create_time_ms: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub update_time_ms: Option<i64>,
    #[serde(default, deserialize_with = "flag")]
    pub is_completed: Option<bool>,
    #[serde(default, deserialize_with = "id")]
    pub msg_id: Option<String>,
    #[serde(default)]
    pub ref_msg: Option<Box<RefMessage>>,
    #[serde(default)]
    pub text_item: Option<TextItem>,
    #[serde(default)]
    pub image_item: Option<ImageItem>,
    #[serde(default)]
    pub voice_item: Option<VoiceItem>,
    #[serde(default)]
    pub file_item: Option<FileItem>,
    #[serde(default)]
    pub video_item: Option<VideoItem>,
    #[serde(default)]
    pub tool_call_start_item: Option<ToolCallItem>,
    #[serde(default)]
    pub tool_call_result_item: Option<ToolCallItem>,
}

/// `ref_msg`: the message a quote points at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RefMessage {
    #[serde(default)]
    pub message_item: Option<MessageItem>,
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "id")]
    pub svr_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TextItem {
    #[serde(default, deserialize_with = "text")]
    pub text: Option<String>,
}

/// `CDNMedia`: where an encrypted file is and how to decrypt it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CdnMedia {
    #[serde(default, deserialize_with = "text")]
    pub encrypt_query_param: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub aes_key: Option<String>,
    #[serde(default, deserialize_with = "int")]
    pub encrypt_type: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub full_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ImageItem {
    #[serde(default)]
    pub media: Option<CdnMedia>,
    #[serde(default)]
    pub thumb_media: Option<CdnMedia>,
    /// The key as 32 hex characters (preferred over `media.aes_key` for images).
    #[serde(default, deserialize_with = "text")]
    pub aeskey: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "int")]
    pub mid_size: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub thumb_size: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub hd_size: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct VoiceItem {
    #[serde(default)]
    pub media: Option<CdnMedia>,
    #[serde(default, deserialize_with = "int")]
    pub encode_type: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub bits_per_sample: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub sample_rate: Option<i64>,
    /// Milliseconds.
    #[serde(default, deserialize_with = "int")]
    pub playtime: Option<i64>,
    /// WeChat's own transcription.
    #[serde(default, deserialize_with = "text")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FileItem {
    #[serde(default)]
    pub media: Option<CdnMedia>,
    #[serde(default, deserialize_with = "text")]
    pub file_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub md5: Option<String>,
    /// The plaintext size, as a decimal string.
    #[serde(default, deserialize_with = "text")]
    pub len: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct VideoItem {
    #[serde(default)]
    pub media: Option<CdnMedia>,
    #[serde(default, deserialize_with = "int")]
    pub video_size: Option<i64>,
    #[serde(default, deserialize_with = "int")]
    pub play_length: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    pub video_md5: Option<String>,
    #[serde(default)]
    pub thumb_media: Option<CdnMedia>,
}

/// `tool_call_start_item` / `tool_call_result_item` (TW ≥2.4 progress items).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ToolCallItem {
    #[serde(default, deserialize_with = "text")]
    pub tool_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub tool_call_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub status: Option<String>,
}

// ---------------------------------------------------------------------------------
// Errors and entry points.

/// Something from the server that cannot be read. It names the position and kind of
/// the problem, never the content (messages hold users' words and context tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} ({category} at line {line} column {column})")]
pub struct Malformed {
    pub what: &'static str,
    pub category: &'static str,
    pub line: usize,
    pub column: usize,
}

impl Malformed {
    pub fn new(what: &'static str, e: &serde_json::Error) -> Malformed {
        let category = match e.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        Malformed { what, category, line: e.line(), column: e.column() }
    }
}

/// Reads a `getupdates` answer. Only the envelope must be well-formed; the messages
/// are read one by one with [`parse_message`].
pub fn parse_updates(body: &[u8]) -> Result<GetUpdatesResponse, Malformed> {
    serde_json::from_slice(body).map_err(|e| Malformed::new("getupdates answer", &e))
}

/// Reads one message of a batch. On failure the message id is still returned when it
/// can be read, so the log can name the message that was skipped.
pub fn parse_message(raw: &RawValue) -> Result<WeixinMessage, (Malformed, Option<String>)> {
    serde_json::from_str(raw.get()).map_err(|e| {
        #[derive(Deserialize)]
        struct IdOnly {
            #[serde(default, deserialize_with = "id")]
            message_id: Option<String>,
        }
        let id = serde_json::from_str::<IdOnly>(raw.get()).ok().and_then(|m| m.message_id);
        (Malformed::new("message", &e), id)
    })
}

/// Reads any answer whose shape is `T`, the status fields aside.
pub fn parse_answer<'a, T: Deserialize<'a>>(what: &'static str, body: &'a [u8]) -> Result<T, Malformed> {
    // Some servers answer an empty body on success (IH's note on sendmessage).
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| Malformed::new(what, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(body: &str) -> Vec<Result<WeixinMessage, (Malformed, Option<String>)>> {
        parse_updates(body.as_bytes()).unwrap().msgs.iter().map(|m| parse_message(m)).collect()
    }

    #[test]
    fn a_full_text_message_reads() {
        let body = r#"{"ret":0,"msgs":[{"seq":7,"message_id":18446744073709551615,"from_user_id":"u1@im.wechat",
            "to_user_id":"bot@im.bot","client_id":"c","create_time_ms":1760000000000,"session_id":"s",
            "message_type":1,"message_state":2,"context_token":"ctx-1","unknown_field":{"x":[1,2]},
            "item_list":[{"type":1,"msg_id":"9007199254740993","text_item":{"text":"你好"}}]}],
            "get_updates_buf":"cursor-2","longpolling_timeout_ms":35000}"#;
        let r = parse_updates(body.as_bytes()).unwrap();
        assert_eq!(r.get_updates_buf.as_deref(), Some("cursor-2"));
        assert_eq!(r.longpolling_timeout_ms, Some(35000));
        let m = parse_message(&r.msgs[0]).unwrap();
        // u64::MAX and 2^53+1 survive exactly: no f64 on the way.
        assert_eq!(m.message_id.as_deref(), Some("18446744073709551615"));
        assert_eq!(m.item_list[0].msg_id.as_deref(), Some("9007199254740993"));
        assert_eq!(m.seq.as_deref(), Some("7"));
        assert_eq!(m.kind(), Some(MESSAGE_TYPE_USER));
        assert_eq!(m.context_token.as_deref(), Some("ctx-1"));
        assert_eq!(m.item_list[0].kind, Some(ITEM_TEXT));
        assert_eq!(m.item_list[0].text_item.as_ref().unwrap().text.as_deref(), Some("你好"));
    }

    #[test]
    fn ids_as_strings_or_numbers_agree() {
        let a = messages(r#"{"msgs":[{"message_id":"12345678901234567890"},{"message_id":12345678901234567890}]}"#);
        assert_eq!(a[0].as_ref().unwrap().message_id, a[1].as_ref().unwrap().message_id);
    }

    #[test]
    fn missing_and_null_fields_default() {
        let m = messages(r#"{"msgs":[{},{"item_list":null,"from_user_id":null,"message_id":null}]}"#);
        assert_eq!(m[0].as_ref().unwrap(), &WeixinMessage::default());
        assert_eq!(m[1].as_ref().unwrap(), &WeixinMessage::default());
        let r = parse_updates(br#"{"ret":0}"#).unwrap();
        assert!(r.msgs.is_empty());
        assert!(parse_updates(br#"{"msgs":null,"get_updates_buf":null}"#).unwrap().msgs.is_empty());
    }

    #[test]
    fn a_mistyped_message_fails_alone_and_keeps_its_id() {
        let m = messages(
            r#"{"msgs":[{"message_id":1,"item_list":[{"type":1,"text_item":{"text":"ok"}}]},
            {"message_id":2,"item_list":"secret words"},
            {"message_id":3.5},
            "not an object",
            {"message_id":4,"from_user_id":"u"}]}"#,
        );
        assert!(m[0].is_ok());
        let (e, id) = m[1].as_ref().unwrap_err();
        assert_eq!(id.as_deref(), Some("2"));
        assert_eq!(e.category, "missing or mistyped field");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(m[2].is_err(), "a fractional id is refused, not rounded");
        assert!(m[3].is_err());
        assert_eq!(m[4].as_ref().unwrap().message_id.as_deref(), Some("4"));
    }

    #[test]
    fn lenient_numbers_and_flags() {
        let m = messages(
            r#"{"msgs":[{"message_type":"1","create_time_ms":1.0e3,"item_list":[{"type":4,"is_completed":1,
            "file_item":{"file_name":"a.pdf","len":1234,"media":{"encrypt_query_param":"q","aes_key":"k","encrypt_type":1}}}]}]}"#,
        );
        let m = m[0].as_ref().unwrap();
        assert_eq!(m.kind(), Some(1));
        assert_eq!(m.create_time_ms, Some(1000));
        let item = &m.item_list[0];
        assert_eq!(item.is_completed, Some(true));
        let f = item.file_item.as_ref().unwrap();
        assert_eq!(f.len.as_deref(), Some("1234"));
        assert_eq!(f.media.as_ref().unwrap().encrypt_query_param.as_deref(), Some("q"));
        assert!(messages(r#"{"msgs":[{"message_type":"one"}]}"#)[0].is_err());
        assert!(messages(r#"{"msgs":[{"message_type":1.5}]}"#)[0].is_err());
    }

    #[test]
    fn quotes_nest() {
        let m = messages(
            r#"{"msgs":[{"item_list":[{"type":1,"text_item":{"text":"yes"},"ref_msg":{"title":"t","svr_id":42,
            "message_item":{"type":2,"image_item":{"aeskey":"00112233445566778899aabbccddeeff"}}}}]}]}"#,
        );
        let item = &m[0].as_ref().unwrap().item_list[0];
        let r = item.ref_msg.as_ref().unwrap();
        assert_eq!(r.svr_id.as_deref(), Some("42"));
        assert_eq!(r.message_item.as_ref().unwrap().kind, Some(ITEM_IMAGE));
    }

    #[test]
    fn status_codes_and_bad_envelopes() {
        let s: Status = parse_answer("x", br#"{"ret":0,"errcode":-14,"errmsg":"session timeout"}"#).unwrap();
        assert_eq!(s.code(), Some(SESSION_EXPIRED));
        let s: Status = parse_answer("x", br#"{"ret":-2}"#).unwrap();
        assert_eq!(s.code(), Some(SEND_REFUSED));
        let s: Status = parse_answer("x", b"").unwrap();
        assert_eq!(s.code(), None);
        let r: SendMessageResponse = parse_answer("x", b"  ").unwrap();
        assert_eq!(r.message_id, None);
        assert!(parse_updates(b"<html>").is_err());
        assert!(parse_updates(br#"{"msgs":{}}"#).is_err());
        let e = parse_updates(br#"{"msgs":[{"a":"#).unwrap_err();
        assert_eq!(e.category, "truncated JSON");
    }
}
