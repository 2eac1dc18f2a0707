//! A thin Bot API client: `POST {base}/bot<token>/<method>` with a JSON or multipart
//! body, answers `{"ok": true, "result": ...}` or `{"ok": false, "error_code",
//! "description", "parameters": {"retry_after"}}`.
//!
//! Every URL holds the token, so nothing here ever formats a URL into an error or a
//! log line, and reqwest errors are stripped of theirs ([`reqwest::Error::without_url`]).

use std::time::Duration;

use herald_core::{AdapterError, SendError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No answer: connection refused, reset, timed out.
    #[error("could not reach the Telegram Bot API: {0}")]
    Network(String),
    /// Telegram answered with an error.
    #[error("Telegram answered {status}: {description}")]
    Api { status: u16, description: String, retry_after: Option<u64> },
    /// The answer was not the Bot API's JSON envelope.
    #[error("unexpected answer from the Telegram Bot API (HTTP {status}): {detail}")]
    Decode { status: u16, detail: String },
}

impl ApiError {
    fn network(e: reqwest::Error) -> ApiError {
        let e = e.without_url();
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        // The source chain (hyper, io) carries no URL; the top-level message might.
        let mut detail = String::new();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        ApiError::Network(if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") })
    }

    fn description(&self) -> &str {
        match self {
            ApiError::Api { description, .. } => description,
            _ => "",
        }
    }

    /// Telegram refused the MarkdownV2 entities.
    pub fn is_parse_error(&self) -> bool {
        matches!(self, ApiError::Api { status: 400, .. })
            && self.description().to_ascii_lowercase().contains("can't parse entities")
    }

    /// How an outbound operation reports this error.
    pub fn to_send_error(&self) -> SendError {
        match self {
            ApiError::Network(d) => SendError::Transient(d.clone()),
            ApiError::Decode { status, detail } if *status >= 500 => {
                SendError::Transient(format!("HTTP {status}: {detail}"))
            }
            ApiError::Decode { status, detail } => SendError::Permanent(format!("HTTP {status}: {detail}")),
            ApiError::Api { status, description, retry_after } => {
                let lower = description.to_ascii_lowercase();
                match *status {
                    429 => SendError::RateLimited { retry_after: Duration::from_secs(retry_after.unwrap_or(1)) },
                    401 => SendError::Permanent("the bot token was refused (401 Unauthorized)".into()),
                    s if s >= 500 => SendError::Transient(format!("{s}: {description}")),
                    _ if lower.contains("message is not modified") => SendError::NotModified,
                    _ if lower.contains("message to edit not found")
                        || lower.contains("message can't be edited")
                        || lower.contains("message to delete not found")
                        || lower.contains("message can't be deleted") =>
                    {
                        SendError::MessageGone(description.clone())
                    }
                    _ if lower.contains("message is too long")
                        || lower.contains("text is too long")
                        || lower.contains("caption is too long") =>
                    {
                        SendError::TooLong(description.clone())
                    }
                    s => SendError::Permanent(format!("{s}: {description}")),
                }
            }
        }
    }

    /// How the listener reports this error.
    pub fn to_adapter_error(&self) -> AdapterError {
        match self {
            ApiError::Api { status: 401, .. } | ApiError::Api { status: 404, .. } => AdapterError::Fatal(
                "the bot token was refused by Telegram (401/404); check TELEGRAM_BOT_TOKEN against @BotFather".into(),
            ),
            ApiError::Api { status: 409, description, .. } => AdapterError::Fatal(format!(
                "Telegram answered 409 Conflict: {description}. Another program (or a second herald) is polling \
                 this bot token, or a webhook is set; stop the other poller, or run `herald` in webhook mode"
            )),
            ApiError::Api { status: 429, retry_after, .. } => AdapterError::Disconnected(format!(
                "rate limited by Telegram; retry after {} s",
                retry_after.unwrap_or(1)
            )),
            other => AdapterError::Disconnected(other.to_string()),
        }
    }
}

#[derive(serde::Deserialize)]
struct Envelope<T> {
    ok: bool,
    #[serde(default = "none")]
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(serde::Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// The client. `Debug` shows the base URL only, never the token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `{base}/bot<token>/`
    method_base: String,
    /// `{base}/file/bot<token>/`
    file_base: String,
    base: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish_non_exhaustive()
    }
}

/// The timeout of an ordinary call; long polls add their own wait on top.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Api {
    pub fn new(base_url: &str, token: &str, proxy: Option<&str>) -> Result<Api, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = proxy {
            let proxy = reqwest::Proxy::all(p).map_err(|_| "TELEGRAM_PROXY is not a usable proxy URL".to_string())?;
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        let base = base_url.trim_end_matches('/').to_string();
        Ok(Api {
            http,
            method_base: format!("{base}/bot{token}/"),
            file_base: format!("{base}/file/bot{token}/"),
            base,
        })
    }

    /// Calls `method` with a JSON body.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let req = self.http.post(format!("{}{method}", self.method_base)).json(body).timeout(timeout);
        Self::finish(req.send().await.map_err(ApiError::network)?).await
    }

    /// Calls `method` with a multipart body (file uploads).
    pub async fn call_multipart<T: DeserializeOwned>(
        &self,
        method: &str,
        form: reqwest::multipart::Form,
    ) -> Result<T, ApiError> {
        let req = self.http.post(format!("{}{method}", self.method_base)).multipart(form).timeout(CALL_TIMEOUT * 5);
        Self::finish(req.send().await.map_err(ApiError::network)?).await
    }

    /// Starts downloading a file by its `file_path` from `getFile`.
    pub async fn download(&self, file_path: &str) -> Result<reqwest::Response, ApiError> {
        let resp = self
            .http
            .get(format!("{}{file_path}", self.file_base))
            .timeout(CALL_TIMEOUT * 10)
            .send()
            .await
            .map_err(ApiError::network)?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(ApiError::Api { status, description: "file download refused".into(), retry_after: None });
        }
        Ok(resp)
    }

    async fn finish<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ApiError> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(ApiError::network)?;
        decode(status, &bytes)
    }
}

/// Reads the Bot API envelope of an answer.
pub fn decode<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, ApiError> {
    let env: Envelope<T> = match serde_json::from_slice(bytes) {
        Ok(e) => e,
        Err(e) => {
            return Err(ApiError::Decode { status, detail: super::parse::Malformed::from(e).to_string() });
        }
    };
    if env.ok {
        return env.result.ok_or_else(|| ApiError::Decode { status, detail: "no result".into() });
    }
    Err(ApiError::Api {
        status: if status == 200 { 400 } else { status },
        description: env.description.unwrap_or_else(|| "no description".into()),
        retry_after: env.parameters.and_then(|p| p.retry_after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str) -> ApiError {
        decode::<serde_json::Value>(status, body.as_bytes()).unwrap_err()
    }

    #[test]
    fn success_envelopes_decode() {
        let v: bool = decode(200, br#"{"ok":true,"result":true}"#).unwrap();
        assert!(v);
        assert!(matches!(decode::<bool>(200, b"<html>"), Err(ApiError::Decode { .. })));
    }

    #[test]
    fn send_errors_map_as_the_delivery_stage_expects() {
        let cases = [
            (
                429,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
                SendError::RateLimited { retry_after: Duration::from_secs(7) },
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}"#,
                SendError::NotModified,
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: message to edit not found"}"#,
                SendError::MessageGone("Bad Request: message to edit not found".into()),
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: message can't be edited"}"#,
                SendError::MessageGone("Bad Request: message can't be edited".into()),
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}"#,
                SendError::TooLong("Bad Request: message is too long".into()),
            ),
            (
                403,
                r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#,
                SendError::Permanent("403: Forbidden: bot was blocked by the user".into()),
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
                SendError::Permanent("400: Bad Request: chat not found".into()),
            ),
            (
                502,
                r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#,
                SendError::Transient("502: Bad Gateway".into()),
            ),
        ];
        for (status, body, expected) in cases {
            assert_eq!(err(status, body).to_send_error(), expected, "{body}");
        }
        assert!(matches!(err(503, "<html>busy</html>").to_send_error(), SendError::Transient(_)));
        assert!(matches!(
            err(401, r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#).to_send_error(),
            SendError::Permanent(_)
        ));
        assert_eq!(
            err(429, r#"{"ok":false,"error_code":429,"description":"Too Many Requests"}"#).to_send_error(),
            SendError::RateLimited { retry_after: Duration::from_secs(1) }
        );
    }

    #[test]
    fn parse_errors_are_recognised() {
        let e = err(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"}"#,
        );
        assert!(e.is_parse_error());
        assert!(!err(400, r#"{"ok":false,"description":"Bad Request: chat not found"}"#).is_parse_error());
    }

    #[test]
    fn listener_errors_name_the_cause() {
        let e = err(
            409,
            r#"{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}"#,
        );
        match e.to_adapter_error() {
            AdapterError::Fatal(m) => {
                assert!(m.contains("409 Conflict"), "{m}");
                assert!(m.contains("terminated by other getUpdates request"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let e = err(401, r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#);
        assert!(matches!(e.to_adapter_error(), AdapterError::Fatal(m) if m.contains("the bot token was refused")));
        assert!(matches!(ApiError::Network("reset".into()).to_adapter_error(), AdapterError::Disconnected(_)));
    }

    fn crypto() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    #[test]
    fn debug_never_shows_the_token() {
        crypto();
        let api = Api::new("http://127.0.0.1:1", "123456:SECRET-TOKEN", None).unwrap();
        assert!(!format!("{api:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn network_errors_never_carry_the_url() {
        crypto();
        // Port 1 on loopback refuses connections.
        let api = Api::new("http://127.0.0.1:1", "123456:SECRET-TOKEN", None).unwrap();
        let e = api.call::<bool>("getMe", &serde_json::json!({}), Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(e, ApiError::Network(_)));
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(!format!("{e:?}").contains("SECRET"), "{e:?}");
    }
}
