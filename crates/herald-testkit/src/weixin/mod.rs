//! A fake WeChat iLink bot server (and its CDN) on 127.0.0.1, speaking
//! `docs/reference/weixin-ilink.md` §B.2-B.9 and checking what clients send.
//!
//! ```no_run
//! # async fn demo() {
//! use herald_testkit::weixin::FakeWeixin;
//!
//! let wx = FakeWeixin::start().await;
//! // Point the bot at wx.base_url() and wx.cdn_base_url() with wx.token().
//! wx.inject_text("o9cq80user0001@im.wechat", "hello");
//! // …run the bot…
//! assert!(wx.wait_until(|v| !v.texts_to("o9cq80user0001@im.wechat").is_empty(), std::time::Duration::from_secs(10)).await);
//! # }
//! ```
//!
//! Served on `base_url()`:
//! - `POST /ilink/bot/getupdates`: the messages after the `get_updates_buf` cursor (at
//!   most `batch_limit`) and a new opaque cursor; with nothing to deliver the request is
//!   held until a message arrives or `poll_hold_ms` passes (then `msgs: []` and the same
//!   cursor). Every answer suggests `longpolling_timeout_ms`. A cursor this server never
//!   issued is refused.
//! - `POST /ilink/bot/sendmessage`: one item per message (text, or image/voice/file/video
//!   whose media the bot uploaded to this peer with the key as base64 of its hex), a
//!   `client_id` never used before, `message_type`/`message_state` 2, and a
//!   `context_token` equal to the newest one a `getupdates` gave the bot for that peer
//!   (else `-2 "prepare failed"`; none at all is accepted, degraded, unless
//!   `require_context_token`). Answers `message_id` (a uint64).
//! - `POST /ilink/bot/getconfig` → a `typing_ticket`; `POST /ilink/bot/sendtyping` with a
//!   ticket issued for that user, `status` 1 or 2.
//! - `POST /ilink/bot/msg/notifystart`, `/ilink/bot/msg/notifystop`.
//! - `POST /ilink/bot/getuploadurl` (sizes, MD5 and key checked) → `upload_param` (and
//!   `upload_full_url` if configured); `POST /c2c/upload?encrypted_query_param=&filekey=`
//!   takes the AES-128-ECB ciphertext, checks it decrypts to `rawsize` bytes with
//!   `rawfilemd5`, and answers `x-encrypted-param`; `GET /c2c/download?encrypted_query_param=`
//!   serves stored ciphertext (the bot's uploads and injected media).
//! - `GET|POST /ilink/bot/get_bot_qrcode?bot_type=3` and `GET
//!   /ilink/bot/get_qrcode_status?qrcode=[&verify_code=]` with a scripted progression per
//!   QR code ([`QrStep`]).
//!
//! Every authenticated POST must carry `Content-Type: application/json`,
//! `AuthorizationType: ilink_bot_token`, `Authorization: Bearer <token>`, a fresh
//! `X-WECHAT-UIN` (base64 of a decimal uint32), `iLink-App-Id: bot`, a decimal
//! `iLink-App-ClientVersion`, `SKRouteTag` when one is configured, and a body with
//! `base_info.channel_version`. QR calls carry the app headers and no `Authorization`.
//! A malformed request is answered HTTP 400 `{"ret": -1, "errmsg": "fake iLink: <why>"}`
//! and listed by [`violations`](FakeWeixin::violations); a wrong token is `-14`.
//!
//! `scaned_but_redirect` names `redirect_host` = `127.0.0.1:PORT` of a second listener
//! serving the same fake. The real client switches to `https://<redirect_host>`; against
//! the fake it must keep the scheme of its configured base (`http`), which is also what
//! a client should do when its base is plain http (a test setting).
//!
//! Not modelled: the 24 h / 10-message send window, one poller per bot, thumbnails,
//! group chats (iLink delivers none), message edits (iLink has none).
//!
//! The control interface is this handle and, for other processes, [`control`] (typed
//! client: [`WeixinControl`]).

mod bot;
mod checks;
mod client;
pub mod control;
mod crypto;
mod harness;
mod inject;
mod login;
mod media;
mod server;
mod state;
mod types;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use client::{ControlError, WeixinControl};
pub use harness::WeixinHarness;
pub use types::{
    Call, Config, ConfigPatch, Fault, InboundMedia, InboundMessage, Info, Injected, KeyEncoding, MediaKind, QrLogin,
    QrStep, SentMessage, TypingEvent, Upload,
};

use state::{Identity, Shared, State};

/// How a [`FakeWeixin`] is set up.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Port of the main listener on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Port of the second listener (`redirect_host`); 0 picks a free one.
    pub redirect_port: u16,
    /// The bot account id (`…@im.bot`); the token is `<bot_id>:<secret>`.
    pub bot_id: String,
    pub secret: String,
    /// The user who scans the QR code (`ilink_user_id`).
    pub owner_user_id: String,
    /// The `SKRouteTag` every request must carry; `None`: not checked.
    pub route_tag: Option<String>,
    pub config: Config,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            port: 0,
            redirect_port: 0,
            bot_id: "b0f5860fdecb@im.bot".into(),
            secret: "fake-ilink-secret-0123456789".into(),
            owner_user_id: "o9cq80owner0000@im.wechat".into(),
            route_tag: None,
            config: Config::default(),
        }
    }
}

/// A read-only view of the server's state, for [`FakeWeixin::wait_until`].
pub struct View<'a> {
    state: &'a State,
}

impl View<'_> {
    /// The bot's accepted messages, in order.
    pub fn sent(&self) -> &[SentMessage] {
        &self.state.sent
    }

    pub fn sent_to(&self, user: &str) -> Vec<SentMessage> {
        self.state.sent.iter().filter(|m| m.to_user_id == user).cloned().collect()
    }

    /// The texts of the bot's text messages to `user`, in order.
    pub fn texts_to(&self, user: &str) -> Vec<String> {
        self.state.sent.iter().filter(|m| m.to_user_id == user).filter_map(|m| m.text.clone()).collect()
    }

    pub fn typing(&self) -> &[TypingEvent] {
        &self.state.typing
    }

    pub fn calls(&self) -> &[Call] {
        &self.state.calls
    }

    pub fn calls_of(&self, endpoint: &str) -> Vec<&Call> {
        self.state.calls.iter().filter(|c| c.endpoint == endpoint).collect()
    }

    pub fn count(&self, endpoint: &str) -> u64 {
        self.state.counts.get(endpoint).copied().unwrap_or(0)
    }

    /// `getupdates` requests being held now.
    pub fn waiting_polls(&self) -> usize {
        self.state.waiting_polls
    }

    pub fn uploads(&self) -> &[Upload] {
        &self.state.uploads
    }

    pub fn notify_started(&self) -> bool {
        self.state.notify_started
    }

    pub fn qr(&self, qrcode: &str) -> Option<&QrLogin> {
        self.state.qrs.get(qrcode)
    }
}

/// A running fake iLink server. Dropping the handle (or [`shutdown`](Self::shutdown))
/// stops it; held polls answer `msgs: []`.
pub struct FakeWeixin {
    shared: Arc<Shared>,
    addr: SocketAddr,
    redirect_addr: SocketAddr,
}

impl FakeWeixin {
    /// Starts a server with default options on ephemeral ports.
    ///
    /// # Panics
    /// If no port on 127.0.0.1 can be bound.
    pub async fn start() -> FakeWeixin {
        match Self::start_with(FakeOptions::default()).await {
            Ok(wx) => wx,
            Err(err) => panic!("herald-testkit: cannot bind 127.0.0.1 for the fake iLink server: {err}"),
        }
    }

    /// Starts a server with these options on the current tokio runtime.
    pub async fn start_with(options: FakeOptions) -> io::Result<FakeWeixin> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let redirect = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.redirect_port)).await?;
        let addr = listener.local_addr()?;
        let redirect_addr = redirect.local_addr()?;
        let id = Identity {
            token: format!("{}:{}", options.bot_id, options.secret),
            bot_id: options.bot_id,
            owner_user_id: options.owner_user_id,
            route_tag: options.route_tag,
            base_url: format!("http://{addr}"),
            redirect_host: redirect_addr.to_string(),
        };
        let shared = Arc::new(Shared::new(id, options.config));
        for (listener, name) in [(listener, "main"), (redirect, "redirect")] {
            let app = server::router(Arc::clone(&shared), name);
            let stop = shared.stop.clone();
            tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
                if let Err(err) = serve.await {
                    tracing::debug!(%err, "fake iLink server stopped with an error");
                }
            });
        }
        Ok(FakeWeixin { shared, addr, redirect_addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the value for `WEIXIN_BASE_URL` (and the `baseurl` a
    /// confirmed login answers).
    pub fn base_url(&self) -> String {
        self.shared.id.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/c2c`, the value for `WEIXIN_CDN_BASE_URL`.
    pub fn cdn_base_url(&self) -> String {
        self.shared.cdn_base_url()
    }

    /// `127.0.0.1:PORT` of the second listener, what `scaned_but_redirect` names.
    pub fn redirect_host(&self) -> String {
        self.redirect_addr.to_string()
    }

    /// `<bot_id>:<secret>`, the value for `WEIXIN_TOKEN`.
    pub fn token(&self) -> &str {
        &self.shared.id.token
    }

    /// The value for `WEIXIN_ACCOUNT_ID`.
    pub fn bot_id(&self) -> &str {
        &self.shared.id.bot_id
    }

    pub fn owner_user_id(&self) -> &str {
        &self.shared.id.owner_user_id
    }

    pub fn info(&self) -> Info {
        control::info(&self.shared)
    }

    /// A control client for this server (what another process would use).
    pub fn control(&self) -> WeixinControl {
        WeixinControl::new(self.base_url())
    }

    /// Queues a user's message, encrypting its media onto the CDN.
    pub fn try_inject(&self, message: &InboundMessage) -> Result<Injected, String> {
        self.shared.update(|s| inject::push(&self.shared, s, message))
    }

    /// [`try_inject`](Self::try_inject).
    ///
    /// # Panics
    /// If the message is invalid (no sender, no content, an image key on a non-image).
    pub fn inject(&self, message: &InboundMessage) -> Injected {
        self.try_inject(message).unwrap_or_else(|e| panic!("herald-testkit: {e}"))
    }

    pub fn inject_text(&self, from: &str, text: &str) -> Injected {
        self.inject(&InboundMessage::text(from, text))
    }

    pub fn inject_media(&self, from: &str, media: InboundMedia) -> Injected {
        self.inject(&InboundMessage::media(from, media))
    }

    /// Queues a `WeixinMessage` as given (`seq`, `message_id`, `context_token` added
    /// when missing).
    ///
    /// # Panics
    /// If `message` is not a JSON object.
    pub fn inject_raw(&self, message: Value) -> Injected {
        self.shared.update(|s| inject::push_raw(s, message)).unwrap_or_else(|e| panic!("herald-testkit: {e}"))
    }

    /// Runs `f` on a view of the state.
    pub fn view<T>(&self, f: impl FnOnce(&View<'_>) -> T) -> T {
        let state = self.shared.lock();
        f(&View { state: &state })
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    pub fn sent_to(&self, user: &str) -> Vec<SentMessage> {
        self.view(|v| v.sent_to(user))
    }

    pub fn texts_to(&self, user: &str) -> Vec<String> {
        self.view(|v| v.texts_to(user))
    }

    pub fn typing(&self) -> Vec<TypingEvent> {
        self.shared.lock().typing.clone()
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.shared.lock().uploads.clone()
    }

    /// The upload behind a sent message's `encrypt_query_param`.
    pub fn upload(&self, encrypt_query_param: &str) -> Option<Upload> {
        self.shared
            .lock()
            .uploads
            .iter()
            .find(|u| u.encrypt_query_param.as_deref() == Some(encrypt_query_param))
            .cloned()
    }

    /// The decrypted bytes the bot uploaded to this `encrypt_query_param`.
    pub fn uploaded_bytes(&self, encrypt_query_param: &str) -> Option<Vec<u8>> {
        self.upload(encrypt_query_param).and_then(|u| u.plain)
    }

    /// The next QR code issued answers these steps (scripts queue up).
    pub fn script_next_qr(&self, steps: Vec<QrStep>) {
        self.shared.update(|s| s.qr_scripts.push_back(steps));
    }

    /// Replaces the remaining steps of an issued QR code; `false` if there is none.
    pub fn script_qr(&self, qrcode: &str, steps: Vec<QrStep>) -> bool {
        self.shared.update(|s| s.qrs.get_mut(qrcode).map(|qr| qr.steps = steps).is_some())
    }

    pub fn qr_logins(&self) -> Vec<QrLogin> {
        self.shared.lock().qrs.values().cloned().collect()
    }

    /// The next `count` requests to `endpoint` ([`control::ENDPOINTS`]) answer `fault`.
    ///
    /// # Panics
    /// If `endpoint` is not one of [`control::ENDPOINTS`].
    pub fn fail_next(&self, endpoint: &str, count: usize, fault: Fault) {
        assert!(control::ENDPOINTS.contains(&endpoint), "herald-testkit: unknown iLink endpoint {endpoint:?}");
        self.shared
            .update(|s| s.faults.entry(endpoint.to_string()).or_default().extend(std::iter::repeat_n(fault, count)));
    }

    pub fn clear_faults(&self) {
        self.shared.update(|s| s.faults.clear());
    }

    /// Sends to `user` answer `ret = -2` with an empty `errmsg` until [`release`](Self::release).
    pub fn throttle(&self, user: &str) {
        self.shared.update(|s| s.throttled.insert(user.to_string()));
    }

    pub fn release(&self, user: &str) {
        self.shared.update(|s| s.throttled.remove(user));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    pub fn calls_of(&self, endpoint: &str) -> Vec<Call> {
        self.view(|v| v.calls_of(endpoint).into_iter().cloned().collect())
    }

    /// The requests refused as malformed; a correct client has none.
    pub fn violations(&self) -> Vec<Call> {
        self.shared.lock().calls.iter().filter(|c| c.violation.is_some()).cloned().collect()
    }

    /// Requests per endpoint.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.lock().counts.clone()
    }

    pub fn config(&self) -> Config {
        self.shared.lock().config.clone()
    }

    pub fn set_config(&self, patch: &ConfigPatch) {
        self.shared.update(|s| patch.apply(&mut s.config));
    }

    /// Waits until `done` holds for the state (checked at once and after every change).
    /// Returns `false` if `within` passes first.
    pub async fn wait_until(&self, mut done: impl FnMut(&View<'_>) -> bool, within: Duration) -> bool {
        crate::changes::wait_until(&self.shared.changed, || self.view(&mut done), within).await
    }

    /// Stops the server. Also done on drop.
    pub fn shutdown(&self) {
        self.shared.stop.cancel();
    }
}

impl Drop for FakeWeixin {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

impl std::fmt::Debug for FakeWeixin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWeixin").field("addr", &self.addr).finish_non_exhaustive()
    }
}
