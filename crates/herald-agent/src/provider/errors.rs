//! What a server said went wrong, as a [`ProviderError`]: HTTP statuses, the JSON
//! error envelopes of OpenAI, Anthropic and compatible servers (in an error response
//! or inside a stream), and `Retry-After`.
//!
//! All pure, so every server quirk here is a unit test.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::ProviderError;

/// How much of an unparseable body goes into an error message.
const MAX_QUOTED: usize = 300;

/// Maps a non-success HTTP status, its headers and (the start of) its body to an error.
/// `now` is a parameter so HTTP-date `Retry-After` values are testable.
pub fn error_from_response(
    provider: &'static str,
    key_hint: &'static str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> ProviderError {
    error_for_status(provider, key_hint, status, parse_retry_after(headers, now), error_message(body, status))
}

fn error_for_status(
    provider: &'static str,
    key_hint: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    message: String,
) -> ProviderError {
    match status {
        401 | 403 => ProviderError::Auth { provider, status, message, key_hint },
        429 => ProviderError::RateLimited { provider, retry_after, message },
        // 408 is the server giving up on a slow upload: sending again is the fix.
        408 | 500..=599 => ProviderError::Server { provider, status, retry_after, message },
        _ => ProviderError::Rejected { provider, status, message },
    }
}

/// Maps an error object sent inside a 200 response or stream (OpenAI
/// `{"message","type","code"}`, Anthropic `{"type","message"}`, OpenRouter's numeric
/// `code`). Such errors carry no HTTP status of their own, so they get the status the
/// provider documents for that error type, or 500 when the type is unknown.
pub fn error_from_envelope(provider: &'static str, key_hint: &'static str, error: &Value) -> ProviderError {
    let message = envelope_message(error).unwrap_or_else(|| quote(error.to_string().as_bytes()));
    let numeric = ["code", "status"].iter().find_map(|k| error.get(*k).and_then(Value::as_u64));
    let status = match numeric {
        Some(code @ 400..=599) => code as u16,
        _ => {
            let kind =
                ["type", "code"].iter().filter_map(|k| error.get(*k).and_then(Value::as_str)).collect::<Vec<_>>();
            kind.iter().find_map(|k| status_for_kind(k)).unwrap_or(500)
        }
    };
    error_for_status(provider, key_hint, status, None, message)
}

/// The HTTP status each documented error type is sent with (Anthropic's error table,
/// OpenAI's `type`/`code` values).
fn status_for_kind(kind: &str) -> Option<u16> {
    Some(match kind {
        "invalid_request_error" | "invalid_request" | "bad_request" => 400,
        "authentication_error" | "invalid_api_key" | "unauthorized" => 401,
        "permission_error" | "permission_denied" | "insufficient_quota_permission" => 403,
        "not_found_error" | "model_not_found" | "not_found" => 404,
        "request_too_large" => 413,
        "rate_limit_error" | "rate_limit_exceeded" | "insufficient_quota" | "tokens" | "requests" => 429,
        "api_error" | "server_error" | "internal_error" => 500,
        "service_unavailable" | "engine_overloaded" => 503,
        "overloaded_error" | "overloaded" => 529,
        _ => return None,
    })
}

/// The human-readable message of an error body: the provider's JSON envelope if there
/// is one, else the start of the body as text.
pub fn error_message(body: &[u8], status: u16) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        // OpenAI and Anthropic: {"error": {...}}; Ollama: {"error": "text"};
        // FastAPI-style servers: {"detail": ...}; others: {"message": ...}.
        let found = match value.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(inner @ Value::Object(_)) => envelope_message(inner),
            _ => envelope_message(&value).or_else(|| value.get("detail").map(text_or_json)),
        };
        if let Some(message) = found {
            return message;
        }
    }
    let text = quote(body);
    if text.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
        return format!("(empty body{})", reason.map(|r| format!("; {r}")).unwrap_or_default());
    }
    text
}

/// `message` of an error object, followed by its type or code when they add anything.
fn envelope_message(error: &Value) -> Option<String> {
    let message = error.get("message").map(text_or_json)?;
    let kind = ["type", "code"].iter().filter_map(|k| error.get(*k)).find_map(|v| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    Some(match kind {
        Some(kind) if !message.contains(&kind) => format!("{message} ({kind})"),
        _ => message,
    })
}

fn text_or_json(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The start of a body as one line of text, for error messages.
pub(crate) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The wait a 429 or 5xx asks for: `retry-after-ms` (OpenAI), then `Retry-After` as
/// seconds or as an HTTP-date. A date in the past means "now".
pub fn parse_retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        // The RFC says integer seconds; fractional values exist in the wild.
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value).ok()?;
    let wait = date.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const OPENAI: &str = "openai";
    const HINT: &str = "OPENAI_API_KEY";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn now() -> Timestamp {
        "2026-01-10T10:00:00Z".parse().unwrap()
    }

    fn map(status: u16, hdrs: &[(&'static str, &str)], body: &str) -> ProviderError {
        error_from_response(OPENAI, HINT, status, &headers(hdrs), body.as_bytes(), now())
    }

    #[test]
    fn retry_after_seconds_date_and_ms() {
        assert_eq!(parse_retry_after(&headers(&[("retry-after", "7")]), now()), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(&headers(&[("retry-after", " 1.5 ")]), now()), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "Sat, 10 Jan 2026 10:00:30 GMT")]), now()),
            Some(Duration::from_secs(30))
        );
        // A date already past: go now.
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "Sat, 10 Jan 2026 09:00:00 GMT")]), now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after-ms", "250"), ("retry-after", "9")]), now()),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        for bad in ["soon", "-3", "", "NaN", "inf", "1e400"] {
            assert_eq!(parse_retry_after(&headers(&[("retry-after", bad)]), now()), None, "{bad:?}");
        }
        assert_eq!(parse_retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn status_mapping() {
        let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        match map(401, &[], body) {
            ProviderError::Auth { status: 401, message, key_hint: HINT, .. } => {
                assert_eq!(message, "Incorrect API key provided (invalid_request_error)");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(map(403, &[], ""), ProviderError::Auth { status: 403, .. }));
        match map(429, &[("retry-after", "2")], r#"{"error":{"message":"slow down"}}"#) {
            ProviderError::RateLimited { retry_after, message, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)));
                assert_eq!(message, "slow down");
            }
            other => panic!("{other:?}"),
        }
        match map(
            529,
            &[("retry-after", "3")],
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ) {
            ProviderError::Server { status: 529, retry_after, message, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
                assert_eq!(message, "Overloaded (overloaded_error)");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(map(503, &[], "<html>bad gateway</html>"), ProviderError::Server { status: 503, .. }));
        assert!(matches!(map(408, &[], ""), ProviderError::Server { status: 408, .. }));
        assert!(matches!(map(400, &[], ""), ProviderError::Rejected { status: 400, .. }));
        assert!(matches!(map(404, &[], ""), ProviderError::Rejected { status: 404, .. }));
        assert!(map(429, &[], "").is_retryable() && map(502, &[], "").is_retryable());
        assert!(!map(400, &[], "").is_retryable() && !map(401, &[], "").is_retryable());
    }

    #[test]
    fn error_messages_from_various_servers() {
        assert_eq!(error_message(br#"{"error":"model 'x' not found"}"#, 404), "model 'x' not found");
        assert_eq!(error_message(br#"{"detail":"Not Found"}"#, 404), "Not Found");
        assert_eq!(error_message(br#"{"message":"nope","code":42}"#, 400), "nope (42)");
        assert_eq!(error_message(b"  upstream\n  timed out  ", 504), "upstream timed out");
        assert_eq!(error_message(b"", 502), "(empty body; Bad Gateway)");
        let long = "x".repeat(1000);
        assert_eq!(error_message(long.as_bytes(), 500).chars().count(), MAX_QUOTED + 1);
        // Not UTF-8 and not JSON: still a message, never a panic.
        assert!(!error_message(b"\xff\xfe\x00", 500).is_empty());
    }

    #[test]
    fn envelope_errors_get_documented_statuses() {
        let e = |v: &str| error_from_envelope("anthropic", "ANTHROPIC_API_KEY", &serde_json::from_str(v).unwrap());
        match e(r#"{"type":"overloaded_error","message":"Overloaded"}"#) {
            ProviderError::Server { status: 529, message, .. } => assert_eq!(message, "Overloaded (overloaded_error)"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(e(r#"{"type":"rate_limit_error","message":"m"}"#), ProviderError::RateLimited { .. }));
        assert!(matches!(
            e(r#"{"type":"invalid_request_error","message":"m"}"#),
            ProviderError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            e(r#"{"type":"authentication_error","message":"m"}"#),
            ProviderError::Auth { status: 401, .. }
        ));
        assert!(matches!(e(r#"{"code":502,"message":"upstream"}"#), ProviderError::Server { status: 502, .. }));
        assert!(matches!(e(r#"{"message":"who knows"}"#), ProviderError::Server { status: 500, .. }));
        match e(r#"{"weird":true}"#) {
            ProviderError::Server { message, .. } => assert_eq!(message, r#"{"weird":true}"#),
            other => panic!("{other:?}"),
        }
    }
}
