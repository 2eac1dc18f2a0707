//! Telegram over the Bot API: long polling (default) or a webhook, media downloaded to
//! the cache before delivery, MarkdownV2 with a plain-text fallback, the 4096 UTF-16
//! unit limit, flood-control `retry_after`, and native drafts in private chats.
//!
//! The binary builds it from the configuration:
//! ```ignore
//! let adapter = TelegramAdapter::new(TelegramSettings::new(config.telegram.clone(), home.join("cache"),
//!     config.gateway.max_inbound_media_bytes))?;
//! ```

mod api;
mod inbound;
pub mod markdown;
mod media;
pub mod parse;
mod poll;
mod send;
pub mod types;
pub mod utf16;
mod webhook;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::config::TelegramConfig;
use herald_core::{
    Adapter, AdapterError, Capabilities, CredentialScope, InboundSink, LengthUnit, OutboundOp, Platform, SendError,
    Sent, Target,
};
use serde_json::json;

pub use api::ApiError;
pub use parse::{BotIdentity, Gate};
pub use send::{MAX_CAPTION_LEN, MAX_MESSAGE_LEN};

use api::{Api, CALL_TIMEOUT};
use inbound::Ctx;
use types::Me;

/// What the adapter needs: the Telegram settings and where to put downloaded files.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub config: TelegramConfig,
    /// `HERALD_HOME/cache`; files go to `images/`, `audio/`, `videos/`, `documents/` in it.
    pub cache_dir: PathBuf,
    /// `gateway.max_inbound_media_bytes`.
    pub max_inbound_media_bytes: u64,
    /// How long one `getUpdates` waits for news (Telegram's `timeout`).
    pub poll_timeout: Duration,
}

impl TelegramSettings {
    pub fn new(config: TelegramConfig, cache_dir: PathBuf, max_inbound_media_bytes: u64) -> TelegramSettings {
        TelegramSettings { config, cache_dir, max_inbound_media_bytes, poll_timeout: Duration::from_secs(30) }
    }
}

/// Why the adapter cannot be built. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram is disabled: {0}")]
    Token(String),
    #[error(
        "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not; webhook mode needs a secret \
         (1-256 characters of A-Z a-z 0-9 _ -) so that only Telegram can post updates"
    )]
    WebhookSecretMissing,
    #[error("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)")]
    WebhookSecretInvalid,
    #[error("{0}")]
    Client(String),
}

/// The Telegram adapter.
pub struct TelegramAdapter {
    api: Api,
    token: String,
    settings: TelegramSettings,
    gate: Gate,
    /// The next `getUpdates` offset. Kept across reconnects of this process; after a
    /// restart Telegram itself still holds every unconfirmed update.
    offset: Mutex<Option<i64>>,
}

impl std::fmt::Debug for TelegramAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramAdapter").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl TelegramAdapter {
    pub fn new(settings: TelegramSettings) -> Result<TelegramAdapter, TelegramError> {
        let cfg = &settings.config;
        let token = cfg.usable_token().map_err(TelegramError::Token)?.to_string();
        if cfg.webhook_url.is_some() {
            match cfg.webhook_secret.as_deref() {
                None | Some("") => return Err(TelegramError::WebhookSecretMissing),
                Some(s) if !webhook::secret_ok(s) => return Err(TelegramError::WebhookSecretInvalid),
                Some(_) => {}
            }
        }
        let api = Api::new(&cfg.api_base_url, &token, cfg.proxy.as_deref()).map_err(TelegramError::Client)?;
        let (gate, bad) =
            Gate::new(cfg.require_mention, cfg.free_response_chats.clone(), &cfg.mention_patterns, cfg.allow_bots);
        for (pattern, error) in bad {
            tracing::warn!(%pattern, %error, "invalid TELEGRAM_MENTION_PATTERNS entry ignored");
        }
        Ok(TelegramAdapter { api, token, settings, gate, offset: Mutex::new(None) })
    }

    /// `getMe`: who the bot is. A refused token is fatal.
    async fn identify(&self) -> Result<BotIdentity, AdapterError> {
        let me: Me = self.api.call("getMe", &json!({}), CALL_TIMEOUT).await.map_err(|e| e.to_adapter_error())?;
        Ok(BotIdentity { id: me.id, username: me.username.unwrap_or_default() })
    }
}

#[async_trait]
impl Adapter for TelegramAdapter {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_message_len: MAX_MESSAGE_LEN,
            length_unit: LengthUnit::Utf16,
            edit: true,
            delete: true,
            draft_in_dm: true,
            typing: true,
            media: true,
            // Hermes's TelegramAdapter.FALLBACK_ON_FINAL_EDIT_FLOOD = True.
            fallback_on_final_edit_flood: true,
        }
    }

    fn credential_scope(&self) -> Option<CredentialScope> {
        Some(CredentialScope { scope: "telegram-bot-token", identity: self.token.clone() })
    }

    async fn run(&self, sink: Arc<dyn InboundSink>) -> Result<(), AdapterError> {
        let bot = self.identify().await?;
        let ctx = Ctx {
            api: self.api.clone(),
            bot,
            gate: self.gate.clone(),
            cache_dir: self.settings.cache_dir.clone(),
            max_media_bytes: self.settings.max_inbound_media_bytes,
        };
        let cfg = &self.settings.config;
        if let Some(url) = cfg.webhook_url.as_deref() {
            let params = webhook::WebhookParams {
                url,
                host: &cfg.webhook_host,
                port: cfg.webhook_port,
                secret: cfg.webhook_secret.as_deref().unwrap_or_default(),
            };
            return webhook::run(ctx, sink, params).await;
        }
        // getUpdates refuses to run while a webhook is set; like python-telegram-bot's
        // run_polling, remove one left from an earlier webhook setup (pending updates
        // are kept).
        if let Err(e) =
            self.api.call::<bool>("deleteWebhook", &json!({"drop_pending_updates": false}), CALL_TIMEOUT).await
        {
            if matches!(e, ApiError::Api { status: 401, .. }) {
                return Err(e.to_adapter_error());
            }
            tracing::warn!(error = %e, "deleteWebhook failed; polling anyway");
        }
        sink.connected(Some(format!("@{}", ctx.bot.username)));
        poll::run(&ctx, &sink, &self.offset, self.settings.poll_timeout).await
    }

    async fn send(&self, target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
        send::send(&self.api, target, op).await
    }
}
