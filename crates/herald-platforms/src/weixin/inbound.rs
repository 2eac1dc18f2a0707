//! One raw message of a `getupdates` batch: parse, remember its context token, drop
//! copies, download its media, deliver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use herald_core::{InboundSink, SinkError};
use serde_json::value::RawValue;

use super::media::{Downloader, MediaError};
use super::parse::{self, Policy};
use super::send::Outbound;
use super::state::{Dedup, content_key};
use super::types;

/// How often a message's media may fail transiently (the batch is fetched again each
/// time) before the message is delivered without it, so one broken file cannot hold
/// the account's whole inbox.
pub const MEDIA_ATTEMPTS: u32 = 3;

/// What handling messages needs; lives as long as the adapter, across reconnects.
pub struct Ctx {
    pub account_id: String,
    pub policy: Policy,
    pub downloader: Downloader,
    pub out: Arc<Outbound>,
    pub dedup: Dedup,
    pub media_failures: Mutex<HashMap<String, u32>>,
}

/// Why a batch must be fetched again (its cursor must not advance).
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("a file of the message could not be downloaded: {0}")]
    Media(String),
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Handles one message. `Ok` means it is done with (delivered, or skipped for good).
pub async fn handle(ctx: &Ctx, raw: &RawValue, sink: &Arc<dyn InboundSink>) -> Result<(), Retry> {
    let msg = match types::parse_message(raw) {
        Ok(m) => m,
        Err((bad, message_id)) => {
            // Never the content: messages hold users' words and context tokens.
            tracing::warn!(message_id, error = %bad, "skipping a malformed WeChat message");
            return Ok(());
        }
    };
    let parsed = match parse::parse_message(msg, &ctx.account_id, &ctx.policy) {
        Ok(p) => p,
        Err(skip) => {
            tracing::debug!(reason = skip.as_str(), "WeChat message skipped");
            return Ok(());
        }
    };
    let chat_id = parsed.inbound.source.chat_id.clone().unwrap_or_default();
    // The token is stored first: the reply must echo the latest one, and it arrives
    // only with the user's messages.
    if let Some(token) = &parsed.context_token {
        ctx.out.tokens.put(&parsed.sender, token).await;
        if chat_id != parsed.sender {
            ctx.out.tokens.put(&chat_id, token).await;
        }
    }
    let now = Instant::now();
    let message_id = parsed.inbound.message_id.clone();
    // Hermes drops repeated message ids for 300 s; a text fingerprint catches copies
    // only for messages without an id, so a user's second identical "ok" is answered
    // (the gateway's rule for platforms with message ids).
    let key = match &message_id {
        Some(id) => format!("id:{id}"),
        None => content_key(&parsed.sender, &parsed.inbound.text),
    };
    if ctx.dedup.seen(&key, now) {
        tracing::debug!(message_id, "WeChat message dropped as a copy");
        return Ok(());
    }
    let mut inbound = parsed.inbound;
    let hint_base = message_id.clone().unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()));
    for (n, m) in parsed.media.iter().enumerate() {
        match ctx.downloader.download(m, &format!("{hint_base}_{n}")).await {
            Ok(a) => inbound.media.push(a),
            Err(MediaError::Skipped(why)) => {
                tracing::warn!(message_id, kind = m.kind.as_str(), reason = %why, "WeChat file not downloaded");
            }
            Err(MediaError::Transient(why)) => {
                let failures = {
                    let mut f = ctx.media_failures.lock().unwrap_or_else(|e| e.into_inner());
                    let n = f.entry(hint_base.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                if failures < MEDIA_ATTEMPTS {
                    return Err(Retry::Media(why));
                }
                tracing::warn!(message_id, kind = m.kind.as_str(), reason = %why, "WeChat file not downloaded after {MEDIA_ATTEMPTS} attempts");
            }
        }
    }
    ctx.media_failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&hint_base);
    if inbound.text.trim().is_empty() && inbound.media.is_empty() {
        tracing::info!(message_id, "WeChat message dropped: its only file could not be downloaded");
        return Ok(());
    }
    if inbound.timestamp_ms <= 0 {
        inbound.timestamp_ms = now_ms();
    }
    sink.deliver(inbound).await?;
    ctx.dedup.record(key, now);
    Ok(())
}
