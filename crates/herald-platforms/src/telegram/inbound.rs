//! One raw update from polling or the webhook: parse, download its media, deliver.

use std::path::PathBuf;
use std::sync::Arc;

use herald_core::{Inbound, InboundSink, SinkError};

use super::api::Api;
use super::media::{self, MediaError};
use super::parse::{self, BotIdentity, Gate};

/// What one connection needs to handle updates.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub api: Api,
    pub bot: BotIdentity,
    pub gate: Gate,
    pub cache_dir: PathBuf,
    pub max_media_bytes: u64,
}

/// Why an update must be fetched again (its cursor must not advance).
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("a file of the message could not be downloaded: {0}")]
    Media(String),
}

/// Handles one update. `Ok` means the update is done with (delivered, or skipped for
/// good) and may be confirmed to Telegram.
pub async fn handle(ctx: &Ctx, value: serde_json::Value, sink: &Arc<dyn InboundSink>) -> Result<(), Retry> {
    if let Some(inbound) = prepare(ctx, value).await? {
        sink.deliver(inbound).await?;
    }
    Ok(())
}

/// Parses one update and downloads its files: the message to deliver, or `None` when
/// the update is skipped for good.
pub async fn prepare(ctx: &Ctx, value: serde_json::Value) -> Result<Option<Inbound>, Retry> {
    let update_id = parse::update_id(&value);
    let parsed = match parse::parse_update(value, &ctx.bot, &ctx.gate) {
        Ok(Ok(p)) => p,
        Ok(Err(skip)) => {
            tracing::debug!(update_id, reason = skip.as_str(), "Telegram update skipped");
            return Ok(None);
        }
        Err(bad) => {
            // Never the content: updates hold users' messages.
            tracing::warn!(update_id, error = %bad, "skipping a malformed Telegram update");
            return Ok(None);
        }
    };
    let mut inbound = parsed.inbound;
    for (n, m) in parsed.media.iter().enumerate() {
        let hint = format!("{}_{}_{n}", update_id.unwrap_or_default(), inbound.message_id.as_deref().unwrap_or("0"));
        match media::download(&ctx.api, m, &ctx.cache_dir, ctx.max_media_bytes, &hint).await {
            Ok(a) => inbound.media.push(a),
            Err(MediaError::Skipped(why)) => {
                tracing::warn!(update_id, kind = m.kind.as_str(), reason = %why, "Telegram file not downloaded");
            }
            Err(MediaError::Transient(why)) => return Err(Retry::Media(why)),
        }
    }
    if inbound.text.trim().is_empty() && inbound.media.is_empty() {
        tracing::info!(update_id, "Telegram message dropped: its only file could not be downloaded");
        return Ok(None);
    }
    Ok(Some(inbound))
}
