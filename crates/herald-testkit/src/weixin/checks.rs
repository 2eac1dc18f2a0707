//! What every request must look like (§B.2): the headers of authenticated POSTs and of
//! the QR GETs, and the `base_info` envelope.
//!
//! The real service's answer to most malformed requests is unknown, so the fake refuses
//! them loudly (HTTP 400, `ret = -1`, an `errmsg` starting `fake iLink:` that says what
//! is wrong) rather than guess; a test then sees the bug instead of a plausible failure.
//! The one answer that is known is kept: a wrong bot token is a stale session (`-14`).

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::state::{Identity, State};

/// A refused request: a malformed one (`Violation`) or a stale token (`Stale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Violation(String),
    Stale,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Refusal> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| Refusal::Violation(format!("header {name} is not visible ASCII"))),
    }
}

fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refusal> {
    header(headers, name)?.ok_or_else(|| Refusal::Violation(format!("header {name} is missing")))
}

/// `iLink-App-Id`, `iLink-App-ClientVersion` and `SKRouteTag`: on every request.
fn app_headers(headers: &HeaderMap, id: &Identity) -> Result<(), Refusal> {
    let app_id = required(headers, "iLink-App-Id")?;
    if app_id != "bot" {
        return Err(Refusal::Violation(format!("iLink-App-Id is {app_id:?}, not \"bot\"")));
    }
    let version = required(headers, "iLink-App-ClientVersion")?;
    if version.parse::<u32>().is_err() {
        return Err(Refusal::Violation(format!("iLink-App-ClientVersion {version:?} is not a decimal uint32")));
    }
    if let Some(tag) = &id.route_tag {
        match header(headers, "SKRouteTag")? {
            Some(got) if got == tag => {}
            Some(got) => return Err(Refusal::Violation(format!("SKRouteTag is {got:?}, configured {tag:?}"))),
            None => return Err(Refusal::Violation("SKRouteTag is missing (a route tag is configured)".into())),
        }
    }
    Ok(())
}

/// The headers of a QR GET: the app headers and no `Authorization` (there is no token
/// yet, and a client that sends one leaks it to the login host).
pub fn qr_headers(headers: &HeaderMap, id: &Identity) -> Result<(), Refusal> {
    app_headers(headers, id)?;
    if headers.contains_key("authorization") {
        return Err(Refusal::Violation("the QR login calls carry no Authorization header".into()));
    }
    Ok(())
}

/// `X-WECHAT-UIN`: base64 of the decimal string of a uint32, fresh every request.
fn uin(headers: &HeaderMap, state: &mut State) -> Result<(), Refusal> {
    let value = required(headers, "X-WECHAT-UIN")?;
    let decoded =
        STANDARD.decode(value).map_err(|_| Refusal::Violation(format!("X-WECHAT-UIN {value:?} is not base64")))?;
    let text =
        String::from_utf8(decoded).map_err(|_| Refusal::Violation("X-WECHAT-UIN is not base64 of text".into()))?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.parse::<u32>().is_err() {
        return Err(Refusal::Violation(format!("X-WECHAT-UIN decodes to {text:?}, not a decimal uint32")));
    }
    if !state.uins.insert(value.to_string()) {
        return Err(Refusal::Violation(format!(
            "X-WECHAT-UIN {value:?} was already used; it must be fresh for every request"
        )));
    }
    Ok(())
}

/// The headers of an authenticated POST (TW `buildHeaders`).
pub fn post_headers(headers: &HeaderMap, id: &Identity, state: &mut State) -> Result<(), Refusal> {
    let content_type = required(headers, "Content-Type")?;
    if !content_type.to_ascii_lowercase().starts_with("application/json") {
        return Err(Refusal::Violation(format!("Content-Type is {content_type:?}, not application/json")));
    }
    app_headers(headers, id)?;
    let auth_type = required(headers, "AuthorizationType")?;
    if auth_type != "ilink_bot_token" {
        return Err(Refusal::Violation(format!("AuthorizationType is {auth_type:?}, not \"ilink_bot_token\"")));
    }
    let auth = required(headers, "Authorization")?;
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err(Refusal::Violation("Authorization is not \"Bearer <bot_token>\"".into()));
    };
    uin(headers, state)?;
    if token != id.token {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// The body of a POST: a JSON object with `base_info.channel_version` (and a
/// well-formed `bot_agent` if there is one).
pub fn post_body(body: &[u8]) -> Result<Value, Refusal> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Refusal::Violation(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Refusal::Violation("the body is not a JSON object".into()));
    }
    base_info(&value)?;
    Ok(value)
}

fn base_info(body: &Value) -> Result<(), Refusal> {
    let Some(info) = body.get("base_info") else {
        return Err(Refusal::Violation("base_info is missing".into()));
    };
    let Some(info) = info.as_object() else {
        return Err(Refusal::Violation("base_info is not an object".into()));
    };
    match info.get("channel_version").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => {}
        _ => return Err(Refusal::Violation("base_info.channel_version is missing or not a non-empty string".into())),
    }
    match info.get("bot_agent") {
        None => Ok(()),
        Some(Value::String(a)) if !a.is_empty() && a.len() <= 256 => Ok(()),
        Some(_) => Err(Refusal::Violation("base_info.bot_agent is not a string of 1 to 256 bytes".into())),
    }
}

/// A string field of a JSON object, required and non-empty.
pub fn string_field<'a>(obj: &'a Value, path: &str, name: &str) -> Result<&'a str, Refusal> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Refusal::Violation(format!("{path}{name} is empty"))),
        Some(_) => Err(Refusal::Violation(format!("{path}{name} is not a string"))),
        None => Err(Refusal::Violation(format!("{path}{name} is missing"))),
    }
}

/// An unsigned integer field, as a JSON number or a decimal string.
pub fn uint_field(obj: &Value, path: &str, name: &str) -> Result<u64, Refusal> {
    match obj.get(name) {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| Refusal::Violation(format!("{path}{name} is not a uint"))),
        Some(Value::String(s)) => s.parse().map_err(|_| Refusal::Violation(format!("{path}{name} is not a uint"))),
        Some(_) => Err(Refusal::Violation(format!("{path}{name} is not a number"))),
        None => Err(Refusal::Violation(format!("{path}{name} is missing"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn id() -> Identity {
        Identity {
            token: "abc@im.bot:secret".into(),
            bot_id: "abc@im.bot".into(),
            owner_user_id: "owner@im.wechat".into(),
            route_tag: None,
            base_url: "http://127.0.0.1:1".into(),
            redirect_host: "127.0.0.1:2".into(),
        }
    }

    fn good(uin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("authorizationtype", HeaderValue::from_static("ilink_bot_token"));
        h.insert("authorization", HeaderValue::from_static("Bearer abc@im.bot:secret"));
        h.insert("x-wechat-uin", HeaderValue::from_str(&STANDARD.encode(uin)).unwrap());
        h.insert("ilink-app-id", HeaderValue::from_static("bot"));
        h.insert("ilink-app-clientversion", HeaderValue::from_static("132105"));
        h
    }

    #[test]
    fn good_headers_pass_once_per_uin() {
        let mut s = State::default();
        assert_eq!(post_headers(&good("4294967295"), &id(), &mut s), Ok(()));
        assert!(matches!(post_headers(&good("4294967295"), &id(), &mut s), Err(Refusal::Violation(_))));
    }

    #[test]
    fn each_bad_header_is_named() {
        let mut s = State::default();
        for (name, value, needle) in [
            ("x-wechat-uin", "NDI5NDk2NzI5Ng==", "uint32"), // 4294967296
            ("x-wechat-uin", "not base64!", "base64"),
            ("ilink-app-id", "bott", "iLink-App-Id"),
            ("ilink-app-clientversion", "2.4.9", "ClientVersion"),
            ("authorizationtype", "bearer", "AuthorizationType"),
            ("authorization", "abc@im.bot:secret", "Bearer"),
            ("content-type", "text/plain", "Content-Type"),
        ] {
            let mut h = good("12");
            h.insert(name, HeaderValue::from_static(value));
            match post_headers(&h, &id(), &mut s) {
                Err(Refusal::Violation(why)) => assert!(why.contains(needle), "{name}: {why}"),
                other => panic!("{name}={value}: {other:?}"),
            }
            s.uins.clear();
        }
        let mut h = good("13");
        h.remove("x-wechat-uin");
        assert!(matches!(post_headers(&h, &id(), &mut s), Err(Refusal::Violation(w)) if w.contains("missing")));
    }

    #[test]
    fn a_wrong_token_is_a_stale_session() {
        let mut h = good("99");
        h.insert("authorization", HeaderValue::from_static("Bearer abc@im.bot:other"));
        assert_eq!(post_headers(&h, &id(), &mut State::default()), Err(Refusal::Stale));
    }

    #[test]
    fn the_route_tag_is_checked_when_configured() {
        let mut ident = id();
        ident.route_tag = Some("1001".into());
        let mut s = State::default();
        assert!(post_headers(&good("5"), &ident, &mut s).is_err());
        let mut h = good("6");
        h.insert("skroutetag", HeaderValue::from_static("1001"));
        assert_eq!(post_headers(&h, &ident, &mut s), Ok(()));
    }

    #[test]
    fn qr_gets_carry_no_token() {
        let mut h = good("1");
        assert!(qr_headers(&h, &id()).is_err());
        h.remove("authorization");
        assert_eq!(qr_headers(&h, &id()), Ok(()));
    }

    #[test]
    fn base_info_is_required() {
        assert!(post_body(br#"{"base_info":{"channel_version":"2.2.0"}}"#).is_ok());
        assert!(post_body(br#"{"base_info":{"channel_version":"2.4.9","bot_agent":"OpenClaw"}}"#).is_ok());
        for bad in [
            &br#"{}"#[..],
            br#"{"base_info":{}}"#,
            br#"{"base_info":{"channel_version":""}}"#,
            br#"{"base_info":"2.2.0"}"#,
            br#"{"base_info":{"channel_version":"1","bot_agent":7}}"#,
            br#"[1]"#,
            b"nope",
        ] {
            assert!(post_body(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = json!({"base_info": {"channel_version": "1", "bot_agent": "a".repeat(257)}}).to_string();
        assert!(post_body(long.as_bytes()).is_err());
    }
}
