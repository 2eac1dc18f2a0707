//! The iLink HTTP client (weixin-ilink.md §B.2, §B.4; hermes-gateway.md §12.1):
//! `POST {base}/ilink/bot/<endpoint>` with JSON, every header of the reference, the
//! `base_info` envelope, and `ret`/`errcode` turned into a typed error.
//!
//! The bot token travels only in the `Authorization` header: it is never part of a
//! URL, an error or a log line, and `Debug` hides it.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::types::{
    self, ConfigResponse, GetUpdatesResponse, Malformed, SEND_REFUSED, SESSION_EXPIRED, SendMessageResponse, Status,
    UploadUrlResponse,
};

/// `iLink-App-Id` (TW's `"ilink_appid": "bot"`).
pub const APP_ID: &str = "bot";
/// `base_info.channel_version`, Hermes's plugin version.
pub const CHANNEL_VERSION: &str = "2.2.0";
/// `iLink-App-ClientVersion`: 2.2.0 as `0x00MMNNPP` (Hermes's 131584).
pub const CLIENT_VERSION: u32 = (2 << 16) | (2 << 8);
/// `base_info.bot_agent` (observability only, `Name/Version`).
pub const BOT_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));

/// The long poll's client timeout until the server suggests one.
pub const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(35);
/// `sendmessage`, `getuploadurl`.
pub const API_TIMEOUT: Duration = Duration::from_secs(15);
/// `getconfig`, `sendtyping`, `notifystart`, `notifystop`.
pub const CONFIG_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No answer: connection refused or reset.
    #[error("iLink POST {endpoint}: {detail}")]
    Network { endpoint: &'static str, detail: String },
    /// The client-side timeout passed (for `getupdates`, an empty poll).
    #[error("iLink POST {endpoint}: timed out")]
    Timeout { endpoint: &'static str },
    /// A non-2xx answer (Hermes's "iLink POST <ep> HTTP <status>: <first 200 chars>").
    #[error("iLink POST {endpoint} HTTP {status}: {body}")]
    Http { endpoint: &'static str, status: u16, body: String },
    /// `ret` or `errcode` was not 0.
    #[error("iLink {endpoint} answered ret={code}: {errmsg}")]
    Ret { endpoint: &'static str, code: i64, errmsg: String },
    /// The answer was not the JSON the endpoint gives.
    #[error("iLink {endpoint}: {detail}")]
    Decode { endpoint: &'static str, detail: Malformed },
}

impl ApiError {
    fn errmsg_lower(&self) -> String {
        match self {
            ApiError::Ret { errmsg, .. } => errmsg.trim().to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    fn code(&self) -> Option<i64> {
        match self {
            ApiError::Ret { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `-14`, or `-2` with "unknown error" (Hermes's stale-session rule).
    pub fn is_session_expired(&self) -> bool {
        self.code() == Some(SESSION_EXPIRED)
            || (self.code() == Some(SEND_REFUSED) && self.errmsg_lower() == "unknown error")
    }

    /// `-2` with "prepare failed": a stale context token or a degraded server session
    /// (Tencent's `session-recovery.ts`).
    pub fn is_prepare_failed(&self) -> bool {
        self.code() == Some(SEND_REFUSED) && self.errmsg_lower().contains("prepare failed")
    }

    /// Any other `-2`: Hermes treats it as a rate limit.
    pub fn is_rate_limited(&self) -> bool {
        self.code() == Some(SEND_REFUSED) && !self.is_session_expired() && !self.is_prepare_failed()
    }

    /// Worth trying again soon: no answer, a timeout, a 5xx or 429.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network { .. } | ApiError::Timeout { .. } => true,
            ApiError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

fn network(endpoint: &'static str, e: reqwest::Error) -> ApiError {
    let e = e.without_url();
    if e.is_timeout() {
        return ApiError::Timeout { endpoint };
    }
    let kind = if e.is_connect() { "connection failed" } else { "request failed" };
    let mut detail = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    ApiError::Network { endpoint, detail: if detail.is_empty() { kind.into() } else { format!("{kind}: {detail}") } }
}

/// `X-WECHAT-UIN`: base64 of the decimal text of a fresh random uint32.
pub fn fresh_uin() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<u32>().to_string())
}

/// The headers every iLink request carries (the unauthenticated QR calls use this
/// with `token: None`): `iLink-App-Id`, `iLink-App-ClientVersion`, `SKRouteTag` when
/// configured; with a token also `Content-Type`, `AuthorizationType`, `Authorization`
/// and a fresh `X-WECHAT-UIN`.
pub fn headers(token: Option<&str>, route_tag: Option<&str>) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    h.insert(HeaderName::from_static("ilink-app-id"), HeaderValue::from_static(APP_ID));
    h.insert(HeaderName::from_static("ilink-app-clientversion"), HeaderValue::from(CLIENT_VERSION));
    if let Some(tag) = route_tag {
        let v = HeaderValue::from_str(tag).map_err(|_| "WEIXIN_ROUTE_TAG is not a valid header value".to_string())?;
        h.insert(HeaderName::from_static("skroutetag"), v);
    }
    if let Some(token) = token {
        h.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(HeaderName::from_static("authorizationtype"), HeaderValue::from_static("ilink_bot_token"));
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the WeChat bot token holds characters a header cannot carry".to_string())?;
        auth.set_sensitive(true);
        h.insert(reqwest::header::AUTHORIZATION, auth);
        h.insert(
            HeaderName::from_static("x-wechat-uin"),
            HeaderValue::from_str(&fresh_uin()).expect("base64 is a valid header value"),
        );
    }
    Ok(h)
}

/// `base_info` of every POST body.
pub fn base_info() -> Value {
    json!({"channel_version": CHANNEL_VERSION, "bot_agent": BOT_AGENT})
}

/// The client. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    route_tag: Option<String>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).field("route_tag", &self.route_tag).finish_non_exhaustive()
    }
}

/// The HTTP client every WeChat call uses (no redirects: the API never redirects, and
/// media downloads check theirs themselves).
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(BOT_AGENT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))
}

impl Api {
    pub fn new(base_url: &str, token: &str, route_tag: Option<&str>) -> Result<Api, String> {
        // Refuse a token or tag no header can carry now, not at the first call.
        headers(Some(token), route_tag)?;
        Ok(Api {
            http: http_client()?,
            base: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            route_tag: route_tag.map(str::to_string),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Posts `body` (plus `base_info`) to `ilink/bot/<endpoint>` and returns the answer
    /// once its status says it worked.
    pub async fn post(&self, endpoint: &'static str, mut body: Value, timeout: Duration) -> Result<Vec<u8>, ApiError> {
        if let Value::Object(m) = &mut body {
            m.insert("base_info".into(), base_info());
        }
        let bytes = serde_json::to_vec(&body).expect("a JSON value serialises");
        let headers = headers(Some(&self.token), self.route_tag.as_deref())
            .map_err(|detail| ApiError::Network { endpoint, detail })?;
        let resp = self
            .http
            .post(format!("{}/ilink/bot/{endpoint}", self.base))
            .headers(headers)
            .body(bytes)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| network(endpoint, e))?;
        let status = resp.status().as_u16();
        let answer = resp.bytes().await.map_err(|e| network(endpoint, e))?.to_vec();
        if !(200..300).contains(&status) {
            let body: String = String::from_utf8_lossy(&answer).chars().take(200).collect();
            return Err(ApiError::Http { endpoint, status, body });
        }
        let s: Status =
            types::parse_answer("answer", &answer).map_err(|detail| ApiError::Decode { endpoint, detail })?;
        if let Some(code) = s.code() {
            return Err(ApiError::Ret { endpoint, code, errmsg: s.errmsg.unwrap_or_default() });
        }
        Ok(answer)
    }

    /// `getupdates` with the cursor (`""` the first time).
    pub async fn get_updates(&self, cursor: &str, timeout: Duration) -> Result<GetUpdatesResponse, ApiError> {
        const EP: &str = "getupdates";
        let answer = self.post(EP, json!({"get_updates_buf": cursor}), timeout).await?;
        types::parse_updates(&answer).map_err(|detail| ApiError::Decode { endpoint: EP, detail })
    }

    /// `sendmessage` with a complete `msg`.
    pub async fn send_message(&self, msg: Value) -> Result<SendMessageResponse, ApiError> {
        const EP: &str = "sendmessage";
        let answer = self.post(EP, json!({"msg": msg}), API_TIMEOUT).await?;
        types::parse_answer("answer", &answer).map_err(|detail| ApiError::Decode { endpoint: EP, detail })
    }

    /// `getuploadurl` with the fields of §B.9 step 3.
    pub async fn get_upload_url(&self, body: Value) -> Result<UploadUrlResponse, ApiError> {
        const EP: &str = "getuploadurl";
        let answer = self.post(EP, body, API_TIMEOUT).await?;
        types::parse_answer("answer", &answer).map_err(|detail| ApiError::Decode { endpoint: EP, detail })
    }

    /// `getconfig` for a peer: its typing ticket.
    pub async fn get_config(&self, peer: &str, context_token: Option<&str>) -> Result<ConfigResponse, ApiError> {
        const EP: &str = "getconfig";
        let mut body = json!({"ilink_user_id": peer});
        if let Some(t) = context_token {
            body["context_token"] = json!(t);
        }
        let answer = self.post(EP, body, CONFIG_TIMEOUT).await?;
        types::parse_answer("answer", &answer).map_err(|detail| ApiError::Decode { endpoint: EP, detail })
    }

    /// `sendtyping`: status 1 shows the indicator, 2 cancels it.
    pub async fn send_typing(&self, peer: &str, ticket: &str, status: u8) -> Result<(), ApiError> {
        let body = json!({"ilink_user_id": peer, "typing_ticket": ticket, "status": status});
        self.post("sendtyping", body, CONFIG_TIMEOUT).await.map(|_| ())
    }

    /// `msg/notifystart`: tells the server this client is up (before polling, and to
    /// recover a degraded session).
    pub async fn notify_start(&self) -> Result<(), ApiError> {
        self.post("msg/notifystart", json!({}), CONFIG_TIMEOUT).await.map(|_| ())
    }

    /// `msg/notifystop`.
    pub async fn notify_stop(&self) -> Result<(), ApiError> {
        self.post("msg/notifystop", json!({}), CONFIG_TIMEOUT).await.map(|_| ())
    }

    /// The shared HTTP client, for the CDN.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    #[test]
    fn the_uin_is_base64_of_a_decimal_u32() {
        for _ in 0..20 {
            let raw = base64::engine::general_purpose::STANDARD.decode(fresh_uin()).unwrap();
            let text = String::from_utf8(raw).unwrap();
            assert!(text.parse::<u32>().is_ok(), "{text}");
        }
    }

    #[test]
    fn headers_as_the_reference() {
        let h = headers(Some("bot@im.bot:secret"), Some("1001")).unwrap();
        assert_eq!(h["ilink-app-id"], "bot");
        assert_eq!(h["ilink-app-clientversion"], "131584");
        assert_eq!(h["skroutetag"], "1001");
        assert_eq!(h["authorizationtype"], "ilink_bot_token");
        assert_eq!(h["authorization"], "Bearer bot@im.bot:secret");
        assert!(h["authorization"].is_sensitive());
        assert_eq!(h["content-type"], "application/json");
        assert!(h.contains_key("x-wechat-uin"));
        let g = headers(None, None).unwrap();
        assert_eq!(g.len(), 2, "QR calls carry only the app id and version: {g:?}");
        assert!(headers(Some("bad\ntoken"), None).is_err());
        assert_eq!(base_info()["channel_version"], "2.2.0");
    }

    #[test]
    fn error_classes() {
        let ret = |code, m: &str| ApiError::Ret { endpoint: "sendmessage", code, errmsg: m.into() };
        assert!(ret(-14, "").is_session_expired());
        assert!(ret(-2, "Unknown Error").is_session_expired());
        assert!(ret(-2, "prepare failed").is_prepare_failed());
        assert!(ret(-2, "").is_rate_limited());
        assert!(!ret(-2, "prepare failed").is_rate_limited());
        assert!(!ret(-14, "").is_rate_limited());
        assert!(ApiError::Http { endpoint: "x", status: 502, body: String::new() }.is_transient());
        assert!(!ApiError::Http { endpoint: "x", status: 400, body: String::new() }.is_transient());
        assert_eq!(
            ApiError::Http { endpoint: "getupdates", status: 500, body: "oops".into() }.to_string(),
            "iLink POST getupdates HTTP 500: oops"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        crypto();
        let api = Api::new("http://127.0.0.1:1", "bot@im.bot:SECRET", None).unwrap();
        assert!(!format!("{api:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn network_errors_never_carry_the_token() {
        crypto();
        let api = Api::new("http://127.0.0.1:1", "bot@im.bot:SECRET", None).unwrap();
        let e = api.notify_start().await.unwrap_err();
        assert!(matches!(e, ApiError::Network { .. }), "{e:?}");
        assert!(!format!("{e} {e:?}").contains("SECRET"));
    }
}
