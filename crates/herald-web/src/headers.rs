//! The Hermes session headers, and validation of session ids from any source.
//!
//! `X-Hermes-Session-Id` names the transcript to continue; `X-Hermes-Session-Key` names a
//! long-term scope. Both are echoed back, so both are checked for characters that could
//! split a header, and ids are checked against path traversal because the store may use
//! them in file names.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use herald_core::is_path_unsafe;

use crate::errors::ApiError;

pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("x-hermes-session-id");
pub(crate) const SESSION_KEY: HeaderName = HeaderName::from_static("x-hermes-session-key");
pub(crate) const COMPLETED: HeaderName = HeaderName::from_static("x-hermes-completed");
pub(crate) const PARTIAL: HeaderName = HeaderName::from_static("x-hermes-partial");
pub(crate) const ERROR: HeaderName = HeaderName::from_static("x-hermes-error");
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Longest session id, session key or idempotency key accepted (characters).
pub(crate) const MAX_SESSION_HEADER_LEN: usize = 256;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// The trimmed text of a header; `Err` when it is not valid text.
fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if s.trim().is_empty() => Ok(None),
            Ok(s) => Ok(Some(s.trim())),
            Err(_) => Err(()),
        },
    }
}

/// Why a session id is unusable, if it is.
pub(crate) fn session_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || has_control(id) {
        Some("Invalid session ID")
    } else if id.chars().count() > MAX_SESSION_HEADER_LEN {
        Some("Session ID too long")
    } else if is_path_unsafe(id) {
        Some("Invalid session ID: it must not contain '..', '/', '\\' or a drive prefix")
    } else {
        None
    }
}

/// Checks a session id from a body or a path.
pub(crate) fn validate_session_id(id: &str, param: &str) -> Result<(), ApiError> {
    match session_id_problem(id) {
        None => Ok(()),
        Some(message) => Err(ApiError::bad_request(message).code("invalid_session_id").param(param)),
    }
}

/// `X-Hermes-Session-Id`, validated.
pub(crate) fn session_id_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let invalid =
        || ApiError::bad_request("Invalid session ID").code("invalid_session_id").param("X-Hermes-Session-Id");
    match header_text(headers, &SESSION_ID).map_err(|_| invalid())? {
        None => Ok(None),
        Some(id) => {
            validate_session_id(id, "X-Hermes-Session-Id")?;
            Ok(Some(id.to_string()))
        }
    }
}

/// `X-Hermes-Session-Key`, validated.
pub(crate) fn session_key_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let invalid = |m: &str| ApiError::bad_request(m).code("invalid_session_key").param("X-Hermes-Session-Key");
    match header_text(headers, &SESSION_KEY).map_err(|_| invalid("Invalid session key"))? {
        None => Ok(None),
        Some(key) if has_control(key) => Err(invalid("Invalid session key")),
        Some(key) if key.chars().count() > MAX_SESSION_HEADER_LEN => Err(invalid("Session key too long")),
        Some(key) => Ok(Some(key.to_string())),
    }
}

/// `Idempotency-Key`, validated.
pub(crate) fn idempotency_key_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let invalid = || {
        ApiError::bad_request("Invalid Idempotency-Key: at most 256 printable characters")
            .code("invalid_idempotency_key")
            .param("Idempotency-Key")
    };
    match header_text(headers, &IDEMPOTENCY_KEY).map_err(|_| invalid())? {
        None => Ok(None),
        Some(k) if has_control(k) || k.chars().count() > MAX_SESSION_HEADER_LEN => Err(invalid()),
        Some(k) => Ok(Some(k.to_string())),
    }
}

/// A header value from text that was validated (no control characters). Non-ASCII text
/// is sent as raw UTF-8 bytes, which HTTP allows as obs-text.
pub(crate) fn value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// The session headers every turn's response echoes.
pub(crate) fn session_headers(session_id: &str, session_key: Option<&str>) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Some(v) = value(session_id) {
        out.push((SESSION_ID, v));
    }
    if let Some(v) = session_key.and_then(value) {
        out.push((SESSION_KEY, v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &HeaderName, v: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name.clone(), HeaderValue::from_bytes(v).unwrap());
        h
    }

    #[test]
    fn session_ids_are_checked() {
        assert!(session_id_problem("api-25f140a6575bf25c").is_none());
        assert!(session_id_problem("20260101_120000_abcdef01").is_none());
        for bad in ["../x", "a/b", "a\\b", "C:x", "..", "a\rb", "a\nb", "a\0b", ""] {
            assert!(session_id_problem(bad).is_some(), "{bad:?}");
        }
        assert!(session_id_problem(&"x".repeat(257)).is_some());
        assert!(session_id_problem(&"x".repeat(256)).is_none());
    }

    #[test]
    fn headers_are_trimmed_and_validated() {
        assert_eq!(session_id_header(&with(&SESSION_ID, b"  abc  ")).unwrap().as_deref(), Some("abc"));
        assert_eq!(session_id_header(&with(&SESSION_ID, b"   ")).unwrap(), None);
        assert!(session_id_header(&with(&SESSION_ID, b"../etc")).is_err());
        assert!(session_id_header(&with(&SESSION_ID, b"a\tb")).is_err());
        assert!(session_id_header(&with(&SESSION_ID, "é".as_bytes())).is_err());
        assert_eq!(
            session_key_header(&with(&SESSION_KEY, b"agent:main:webui:dm:u-42")).unwrap().unwrap(),
            "agent:main:webui:dm:u-42"
        );
        let err = session_key_header(&with(&SESSION_KEY, "k".repeat(257).as_bytes())).unwrap_err();
        assert_eq!(err.message, "Session key too long");
        assert!(idempotency_key_header(&with(&IDEMPOTENCY_KEY, "k".repeat(257).as_bytes())).is_err());
    }
}
