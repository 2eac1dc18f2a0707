//! A typed client of the control interface ([`super::control`]), for tests in other
//! crates and tests of the real binary running against `herald-testkit-weixin`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), herald_testkit::weixin::ControlError> {
//! use herald_testkit::weixin::WeixinControl;
//!
//! let wx = WeixinControl::new("http://127.0.0.1:40123");
//! let info = wx.info().await?;
//! wx.inject_text("o9cq80user0001@im.wechat", "hello").await?;
//! let sent = wx.wait_sent(Some("o9cq80user0001@im.wechat"), 1, std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::types::{
    Call, Config, ConfigPatch, Fault, InboundMessage, Info, Injected, QrLogin, QrStep, SentMessage, TypingEvent, Upload,
};

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the fake iLink server is unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the fake iLink server answered {status}: {message}")]
    Status { status: u16, message: String },
}

/// The control interface of a fake iLink server, over HTTP.
#[derive(Debug, Clone)]
pub struct WeixinControl {
    http: reqwest::Client,
    base: String,
}

impl WeixinControl {
    /// `base_url` is the server's `http://127.0.0.1:PORT`.
    pub fn new(base_url: impl Into<String>) -> WeixinControl {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No overall timeout: `wait_sent` holds a request as long as it was asked to.
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
        WeixinControl { http, base: base_url.into().trim_end_matches('/').to_string() }
    }

    fn url(&self, route: &str) -> String {
        format!("{}/_control/{route}", self.base)
    }

    async fn read<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ControlError> {
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(ControlError::Status { status, message });
        }
        Ok(response.json().await?)
    }

    async fn get<T: DeserializeOwned>(&self, route: &str, query: &[(&str, String)]) -> Result<T, ControlError> {
        Self::read(self.http.get(self.url(route)).query(query).send().await?).await
    }

    async fn post<T: DeserializeOwned>(&self, route: &str, body: &impl serde::Serialize) -> Result<T, ControlError> {
        Self::read(self.http.post(self.url(route)).json(body).send().await?).await
    }

    pub async fn info(&self) -> Result<Info, ControlError> {
        self.get("info", &[]).await
    }

    pub async fn config(&self) -> Result<Config, ControlError> {
        self.get("config", &[]).await
    }

    /// Changes the given settings; returns the new configuration.
    pub async fn set_config(&self, patch: &ConfigPatch) -> Result<Config, ControlError> {
        self.post("config", patch).await
    }

    pub async fn inject(&self, message: &InboundMessage) -> Result<Injected, ControlError> {
        self.post("inbound", message).await
    }

    pub async fn inject_text(&self, from: &str, text: &str) -> Result<Injected, ControlError> {
        self.post("inbound/text", &json!({"from": from, "text": text})).await
    }

    /// Queues a `WeixinMessage` as given (`seq`, `message_id`, `context_token` added
    /// when missing).
    pub async fn inject_raw(&self, message: &Value) -> Result<Injected, ControlError> {
        self.post("inbound/raw", message).await
    }

    /// The bot's accepted messages (to one peer), in order.
    pub async fn sent(&self, to: Option<&str>) -> Result<Vec<SentMessage>, ControlError> {
        self.wait_sent(to, 0, Duration::ZERO).await
    }

    /// Like [`sent`](Self::sent), but the server holds the request until at least `min`
    /// messages are there or `within` passes (then it answers what there is).
    pub async fn wait_sent(
        &self,
        to: Option<&str>,
        min: usize,
        within: Duration,
    ) -> Result<Vec<SentMessage>, ControlError> {
        let mut query = vec![("min", min.to_string()), ("wait_ms", within.as_millis().to_string())];
        if let Some(t) = to {
            query.push(("to", t.to_string()));
        }
        self.get("sent", &query).await
    }

    pub async fn typing(&self, user: Option<&str>) -> Result<Vec<TypingEvent>, ControlError> {
        let query: Vec<_> = user.map(|u| ("user", u.to_string())).into_iter().collect();
        self.get("typing", &query).await
    }

    pub async fn uploads(&self) -> Result<Vec<Upload>, ControlError> {
        self.get("uploads", &[]).await
    }

    /// The decrypted bytes the bot uploaded to this `encrypt_query_param` (a sent
    /// message's [`SentMessage::encrypt_query_param`]); `None` if it uploaded none there.
    pub async fn uploaded_bytes(&self, encrypt_query_param: &str) -> Result<Option<Vec<u8>>, ControlError> {
        let response =
            self.http.get(self.url("media")).query(&[("encrypt_query_param", encrypt_query_param)]).send().await?;
        match response.status().as_u16() {
            200 => Ok(Some(response.bytes().await?.to_vec())),
            404 => Ok(None),
            status => Err(ControlError::Status { status, message: response.text().await.unwrap_or_default() }),
        }
    }

    /// The next QR code issued answers these steps (scripts queue up).
    pub async fn script_next_qr(&self, steps: &[QrStep]) -> Result<(), ControlError> {
        self.post::<Value>("qr/script", &steps).await.map(drop)
    }

    /// Replaces the remaining steps of an issued QR code.
    pub async fn script_qr(&self, qrcode: &str, steps: &[QrStep]) -> Result<(), ControlError> {
        self.post::<Value>(&format!("qr/{qrcode}/script"), &steps).await.map(drop)
    }

    pub async fn qr_logins(&self) -> Result<Vec<QrLogin>, ControlError> {
        self.get("qr", &[]).await
    }

    /// The next `count` requests to `endpoint` (see [`Call::endpoint`]) answer `fault`.
    pub async fn fail(&self, endpoint: &str, count: usize, fault: &Fault) -> Result<(), ControlError> {
        self.post::<Value>("faults", &json!({"endpoint": endpoint, "count": count, "fault": fault})).await.map(drop)
    }

    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        Self::read::<Value>(self.http.delete(self.url("faults")).send().await?).await.map(drop)
    }

    /// Sends to `user` answer `ret = -2` (empty `errmsg`) until [`release`](Self::release).
    pub async fn throttle(&self, user: &str) -> Result<(), ControlError> {
        self.post::<Value>("throttle", &json!({"user": user, "on": true})).await.map(drop)
    }

    pub async fn release(&self, user: &str) -> Result<(), ControlError> {
        self.post::<Value>("throttle", &json!({"user": user, "on": false})).await.map(drop)
    }

    /// Every request to an iLink or CDN endpoint (to one endpoint), in order.
    pub async fn calls(&self, endpoint: Option<&str>) -> Result<Vec<Call>, ControlError> {
        let query: Vec<_> = endpoint.map(|e| ("endpoint", e.to_string())).into_iter().collect();
        self.get("calls", &query).await
    }

    /// The requests refused as malformed; a correct client has none.
    pub async fn violations(&self) -> Result<Vec<Call>, ControlError> {
        self.get("violations", &[]).await
    }

    /// Requests per endpoint.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>, ControlError> {
        self.get("counts", &[]).await
    }

    /// `{"waiting_polls", "inbox", "notify_started"}`.
    pub async fn status(&self) -> Result<Value, ControlError> {
        self.get("status", &[]).await
    }
}
