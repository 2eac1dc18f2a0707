//! WeChat over the iLink bot protocol (`../shared/reference/weixin-ilink.md`,
//! Hermes's behaviour in hermes-gateway.md §12): `getupdates` long polling with the
//! cursor in the adapter state, context tokens per peer echoed on every send, typing
//! through `getconfig` tickets, text formatted and split for WeChat, and AES-128-ECB
//! media on the CDN both ways. WeChat cannot edit or delete, so the capabilities say so
//! and the delivery stage sends answers whole.
//!
//! The binary builds it from the configuration and the saved login:
//! ```ignore
//! let account = WeixinAccount { account_id, token, base_url, user_id };
//! let settings = WeixinSettings::new(config.weixin.clone(), account, home.join("cache"),
//!     config.gateway.max_inbound_media_bytes, adapter_state);
//! let adapter = WeixinAdapter::new(settings)?;
//! let sender = adapter.sender(); // one-shot sends sharing the adapter's connection
//! ```
//! Without a running adapter, [`WeixinSender::new`] sends to a peer directly.

pub mod account;
pub mod api;
pub mod crypto;
pub mod format;
mod inbound;
pub mod login;
pub mod media;
pub mod parse;
pub mod poll;
pub mod send;
pub mod ssrf;
pub mod state;
pub mod types;
pub mod typing;
pub mod upload;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use herald_core::config::WeixinConfig;
use herald_core::{
    Adapter, AdapterError, AdapterState, Capabilities, CredentialScope, InboundSink, LengthUnit, MediaKind, OutboundOp,
    Platform, SendError, Sent, Target, TextFormat,
};

pub use api::ApiError;
pub use poll::PollTiming;
pub use send::MAX_MESSAGE_LEN;

use inbound::Ctx;
use media::Downloader;
use parse::Policy;
use send::{Outbound, SendOptions};
use state::{ContextTokens, Dedup};

/// A logged-in bot account: what `herald login weixin` saves, or `WEIXIN_TOKEN`.
#[derive(Clone, PartialEq, Eq)]
pub struct WeixinAccount {
    /// `ilink_bot_id` (`…@im.bot`); the adapter skips its own messages by it.
    pub account_id: String,
    /// The bot token (`…@im.bot:…`).
    pub token: String,
    /// The API base to use: the login's `baseurl`, or `WEIXIN_BASE_URL`.
    pub base_url: String,
    /// `ilink_user_id`: the WeChat user who scanned the QR code.
    pub user_id: Option<String>,
}

impl std::fmt::Debug for WeixinAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeixinAccount")
            .field("account_id", &self.account_id)
            .field("token", &"(set)")
            .field("base_url", &self.base_url)
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl WeixinAccount {
    /// The account `WEIXIN_TOKEN` describes on its own, if it is set: the account id is
    /// `WEIXIN_ACCOUNT_ID`, else the token's part before `:` (`<botid>@im.bot:<secret>`).
    pub fn from_config(config: &WeixinConfig) -> Result<Option<WeixinAccount>, WeixinError> {
        let Some(token) = config.usable_token().map_err(WeixinError::Token)? else { return Ok(None) };
        let account_id = config
            .account_id
            .clone()
            .or_else(|| token.split_once(':').map(|(id, _)| id.to_string()))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                WeixinError::Token(
                    "WEIXIN_ACCOUNT_ID is not set and WEIXIN_TOKEN does not start with `<bot id>:`".into(),
                )
            })?;
        Ok(Some(WeixinAccount {
            account_id,
            token: token.to_string(),
            base_url: config.base_url.clone(),
            user_id: None,
        }))
    }
}

/// What the adapter needs.
#[derive(Clone)]
pub struct WeixinSettings {
    pub config: WeixinConfig,
    pub account: WeixinAccount,
    /// `HERALD_HOME/cache`; files go to `images/`, `audio/`, `videos/`, `documents/` in it.
    pub cache_dir: PathBuf,
    /// `gateway.max_inbound_media_bytes`.
    pub max_inbound_media_bytes: u64,
    /// Where the cursor (`get_updates_buf`) and the context tokens
    /// (`context_token:<peer>`) live; the gateway namespaces it per account.
    pub state: Arc<dyn AdapterState>,
    /// The poll's failure ladder (the reference's numbers by default).
    pub timing: PollTiming,
}

impl std::fmt::Debug for WeixinSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeixinSettings")
            .field("config", &self.config)
            .field("account", &self.account)
            .field("cache_dir", &self.cache_dir)
            .field("max_inbound_media_bytes", &self.max_inbound_media_bytes)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl WeixinSettings {
    pub fn new(
        config: WeixinConfig,
        account: WeixinAccount,
        cache_dir: PathBuf,
        max_inbound_media_bytes: u64,
        state: Arc<dyn AdapterState>,
    ) -> WeixinSettings {
        let timing = PollTiming { session_pause: config.session_pause, ..PollTiming::default() };
        WeixinSettings { config, account, cache_dir, max_inbound_media_bytes, state, timing }
    }
}

/// Why the adapter or sender cannot be built. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeixinError {
    #[error("WeChat is disabled: {0}")]
    Token(String),
    #[error("{0}")]
    Client(String),
}

fn outbound(
    config: &WeixinConfig,
    account: &WeixinAccount,
    state: Arc<dyn AdapterState>,
) -> Result<Outbound, WeixinError> {
    if account.token.trim().is_empty() {
        return Err(WeixinError::Token("the account has no bot token; run `herald login weixin`".into()));
    }
    let api = api::Api::new(&account.base_url, account.token.trim(), config.route_tag.as_deref())
        .map_err(WeixinError::Client)?;
    Ok(Outbound {
        api,
        cdn_base_url: config.cdn_base_url.trim_end_matches('/').to_string(),
        tokens: ContextTokens::new(state),
        tickets: typing::Tickets::default(),
        opts: SendOptions::from_config(config),
        circuit: Mutex::new(send::Circuit::default()),
        send_lock: tokio::sync::Mutex::new(()),
        last_notify: Mutex::new(None),
        last_text: Mutex::new(Default::default()),
    })
}

/// The WeChat adapter.
pub struct WeixinAdapter {
    settings: WeixinSettings,
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for WeixinAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeixinAdapter").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl WeixinAdapter {
    pub fn new(settings: WeixinSettings) -> Result<WeixinAdapter, WeixinError> {
        let cfg = &settings.config;
        let out = Arc::new(outbound(cfg, &settings.account, Arc::clone(&settings.state))?);
        if cfg.group_policy != herald_core::config::AdapterPolicy::Disabled {
            tracing::warn!("WEIXIN_GROUP_POLICY is not `disabled`; iLink rarely delivers group messages at all");
        }
        let downloader = Downloader {
            http: out.api.http().clone(),
            cdn_base_url: out.cdn_base_url.clone(),
            allowed_hosts: media::allowlist(&cfg.cdn_allowed_hosts, &cfg.cdn_base_url),
            cache_dir: settings.cache_dir.clone(),
            max_bytes: settings.max_inbound_media_bytes,
        };
        let ctx = Ctx {
            account_id: settings.account.account_id.clone(),
            policy: Policy {
                dm: cfg.dm_policy,
                group: cfg.group_policy,
                allow_from: cfg.allowed_users.clone(),
                group_allow_from: cfg.group_allowed_users.clone(),
            },
            downloader,
            out,
            dedup: Dedup::default(),
            media_failures: Mutex::new(Default::default()),
        };
        Ok(WeixinAdapter { settings, ctx: Arc::new(ctx) })
    }

    /// A one-shot sender sharing this adapter's connection, context tokens, send lock
    /// and rate-limit circuit (cron deliveries, the `send_message` tool).
    pub fn sender(&self) -> WeixinSender {
        WeixinSender { out: Arc::clone(&self.ctx.out) }
    }

    pub fn account_id(&self) -> &str {
        &self.settings.account.account_id
    }
}

#[async_trait]
impl Adapter for WeixinAdapter {
    fn platform(&self) -> Platform {
        Platform::Weixin
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_message_len: MAX_MESSAGE_LEN,
            length_unit: LengthUnit::Chars,
            edit: false,
            delete: false,
            draft_in_dm: false,
            typing: true,
            media: true,
            fallback_on_final_edit_flood: false,
        }
    }

    fn credential_scope(&self) -> Option<CredentialScope> {
        Some(CredentialScope { scope: "weixin-bot-token", identity: self.settings.account.token.clone() })
    }

    /// Hermes's compact (or per-line) bubbles, already formatted, so the gateway
    /// queues each bubble as its own send and a failure resends only what is missing.
    fn split_text(&self, text: &str) -> Option<Vec<String>> {
        Some(self.ctx.out.parts(text))
    }

    async fn run(&self, sink: Arc<dyn InboundSink>) -> Result<(), AdapterError> {
        poll::run(&self.ctx, &sink, self.settings.state.as_ref(), self.settings.timing).await
    }

    async fn send(&self, target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
        self.ctx.out.perform(target, op).await
    }
}

/// Sends to a WeChat peer without the long poll. Context tokens come from the same
/// adapter state the adapter writes, so a reply still echoes the user's latest token.
#[derive(Clone)]
pub struct WeixinSender {
    out: Arc<Outbound>,
}

impl std::fmt::Debug for WeixinSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeixinSender").field("api", &self.out.api).finish_non_exhaustive()
    }
}

impl WeixinSender {
    /// A sender with its own connection, for when no adapter runs.
    pub fn new(
        config: &WeixinConfig,
        account: &WeixinAccount,
        state: Arc<dyn AdapterState>,
    ) -> Result<WeixinSender, WeixinError> {
        Ok(WeixinSender { out: Arc::new(outbound(config, account, state)?) })
    }

    /// Performs one operation for `peer` (a `…@im.wechat` user id).
    pub async fn send(&self, peer: &str, op: &OutboundOp) -> Result<Sent, SendError> {
        let target = Target { chat_id: peer.to_string(), chat_type: None, thread_id: None, reply_to: None };
        self.out.perform(&target, op).await
    }

    /// Sends Markdown text, formatted and split for WeChat.
    pub async fn send_text(&self, peer: &str, text: &str) -> Result<Sent, SendError> {
        self.send(peer, &OutboundOp::Send { text: text.to_string(), format: TextFormat::Markdown }).await
    }

    /// Sends a local file, with an optional caption sent first.
    pub async fn send_file(
        &self,
        peer: &str,
        kind: MediaKind,
        path: PathBuf,
        caption: Option<String>,
    ) -> Result<Sent, SendError> {
        self.send(peer, &OutboundOp::SendMedia { kind, path, caption }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::config::ConfigLoader;

    fn config(env: &[(&str, &str)]) -> WeixinConfig {
        let mut l = ConfigLoader::new();
        l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.build().unwrap().config.weixin
    }

    #[test]
    fn an_env_token_names_its_account() {
        let a = WeixinAccount::from_config(&config(&[("WEIXIN_TOKEN", "b0f5@im.bot:s3cret")])).unwrap().unwrap();
        assert_eq!(a.account_id, "b0f5@im.bot");
        assert_eq!(a.base_url, "https://ilinkai.weixin.qq.com");
        assert!(!format!("{a:?}").contains("s3cret"));
        let a = WeixinAccount::from_config(&config(&[
            ("WEIXIN_TOKEN", "b0f5@im.bot:s3cret"),
            ("WEIXIN_ACCOUNT_ID", "x@im.bot"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.account_id, "x@im.bot");
        assert_eq!(WeixinAccount::from_config(&config(&[])).unwrap(), None);
        assert!(WeixinAccount::from_config(&config(&[("WEIXIN_TOKEN", "nocolonhere")])).is_err());
    }

    #[test]
    fn capabilities_say_no_edits() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let account = WeixinAccount {
            account_id: "b@im.bot".into(),
            token: "b@im.bot:secret".into(),
            base_url: "http://127.0.0.1:1".into(),
            user_id: None,
        };
        let state: Arc<dyn AdapterState> = Arc::new(state::tests::MemState::default());
        let a = WeixinAdapter::new(WeixinSettings::new(config(&[]), account, "/tmp".into(), 1, state)).unwrap();
        let c = a.capabilities();
        assert!(!c.edit && !c.delete && !c.draft_in_dm && c.typing && c.media);
        assert_eq!((c.max_message_len, c.length_unit), (2000, LengthUnit::Chars));
        assert_eq!(a.credential_scope().unwrap().scope, "weixin-bot-token");
        assert!(!format!("{a:?}").contains("secret"));
    }
}
