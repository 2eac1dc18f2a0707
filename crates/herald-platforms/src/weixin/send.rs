//! Outbound operations (hermes-gateway.md §12.4): text formatted and split for
//! WeChat, chunks sent in order with the configured gap, each retried with backoff;
//! a stale context token dropped and the send retried once without it; `notifystart`
//! when the server's session is degraded; and Hermes's rate-limit circuit breaker.
//!
//! Everything that sends goes through [`Outbound`], shared by the adapter and the
//! one-shot [`super::WeixinSender`], so both use one connection, one set of context
//! tokens and one circuit.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::config::WeixinConfig;
use herald_core::{OutboundOp, SendError, Sent, Target, TextFormat};
use serde_json::{Value, json};

use super::api::{Api, ApiError};
use super::format::{self, SplitMode};
use super::state::ContextTokens;
use super::types::{ITEM_TEXT, MESSAGE_STATE_FINISH, MESSAGE_TYPE_BOT};
use super::typing::{self, Tickets};

/// Hermes's `MAX_MESSAGE_LENGTH`, in characters.
pub const MAX_MESSAGE_LEN: usize = 2000;
/// Tencent's per-account cooldown between `notifystart` recoveries.
pub const NOTIFY_COOLDOWN: Duration = Duration::from_secs(60);

/// The sending settings, from [`WeixinConfig`].
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub split: SplitMode,
    pub chunk_delay: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub circuit_threshold: u32,
    pub circuit_window: Duration,
    pub circuit_open: Duration,
}

impl SendOptions {
    pub fn from_config(c: &WeixinConfig) -> SendOptions {
        SendOptions {
            split: if c.split_multiline_messages { SplitMode::PerLine } else { SplitMode::Compact },
            chunk_delay: c.send_chunk_delay,
            retries: c.send_chunk_retries,
            retry_delay: c.send_chunk_retry_delay,
            circuit_threshold: c.rate_limit_circuit_threshold.max(1),
            circuit_window: c.rate_limit_circuit_window,
            circuit_open: c.rate_limit_circuit_open,
        }
    }
}

/// Rate-limit events within a window open the circuit, which then blocks every send
/// for a while (Hermes's "cooldown active").
#[derive(Debug, Default)]
pub struct Circuit {
    events: VecDeque<Instant>,
    open_until: Option<Instant>,
}

impl Circuit {
    /// How long sends are still blocked, if they are.
    pub fn blocked(&self, now: Instant) -> Option<Duration> {
        self.open_until.filter(|u| *u > now).map(|u| u - now)
    }

    /// Records a rate-limit event; returns whether the circuit is open now.
    pub fn record(&mut self, now: Instant, o: &SendOptions) -> bool {
        self.events.push_back(now);
        while self.events.front().is_some_and(|t| now.duration_since(*t) > o.circuit_window) {
            self.events.pop_front();
        }
        if self.events.len() >= o.circuit_threshold as usize {
            self.events.clear();
            self.open_until = Some(now + o.circuit_open);
            tracing::warn!(open_for = ?o.circuit_open, "WeChat rate limit: pausing sends");
            return true;
        }
        false
    }
}

/// A new `client_id`, unique per message.
pub fn client_id() -> String {
    format!("herald-weixin-{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// The outbound `msg` of §B.7: one item, from the bot, finished.
pub fn message(peer: &str, client_id: &str, item: &Value, context_token: Option<&str>) -> Value {
    let mut msg = json!({
        "from_user_id": "",
        "to_user_id": peer,
        "client_id": client_id,
        "message_type": MESSAGE_TYPE_BOT,
        "message_state": MESSAGE_STATE_FINISH,
        "item_list": [item],
    });
    if let Some(t) = context_token {
        msg["context_token"] = json!(t);
    }
    msg
}

/// A text item.
pub fn text_item(text: &str) -> Value {
    json!({"type": ITEM_TEXT, "text_item": {"text": text}})
}

/// The shared sending half of an account.
pub struct Outbound {
    pub api: Api,
    pub cdn_base_url: String,
    pub tokens: ContextTokens,
    pub tickets: Tickets,
    pub opts: SendOptions,
    pub circuit: Mutex<Circuit>,
    /// Every text is sent under this lock so the chunks of two answers never interleave
    /// (Hermes's adapter-wide send lock).
    pub send_lock: tokio::sync::Mutex<()>,
    pub last_notify: Mutex<Option<Instant>>,
    /// When the last text went to each peer, for the chunk gap. The gateway queues an
    /// answer's parts as separate sends, so the gap is kept here, per peer, not per call.
    pub last_text: Mutex<HashMap<String, Instant>>,
}

/// Peers remembered for the gap before old entries are dropped.
const GAP_PEERS: usize = 1024;

fn rate_limited(after: Duration) -> SendError {
    SendError::RateLimited { retry_after: after.max(Duration::from_secs(1)) }
}

fn is_rate_limit(e: &ApiError) -> bool {
    e.is_rate_limited() || matches!(e, ApiError::Http { status: 429, .. })
}

impl Outbound {
    /// `notifystart`, at most once per [`NOTIFY_COOLDOWN`]; returns whether it was called.
    pub async fn recover_session(&self) -> bool {
        {
            let mut last = self.last_notify.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < NOTIFY_COOLDOWN) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.api.notify_start().await {
            Ok(()) => tracing::info!("WeChat notifystart sent to recover the session"),
            Err(e) => tracing::warn!(error = %e, "WeChat notifystart failed"),
        }
        true
    }

    /// Sends one message holding `item` to `peer`, with the retry policy of §12.4.
    /// `mid_answer` says earlier chunks of the same answer went out already: then a
    /// rate limit is waited out here instead of being reported (a retry of the whole
    /// operation would send those chunks twice).
    pub async fn send_item(&self, peer: &str, item: &Value, mid_answer: bool) -> Result<Sent, SendError> {
        let mut token = self.tokens.get(peer).await;
        let mut dropped_token = false;
        let mut notified = false;
        let mut last: Option<ApiError> = None;
        let mut attempt: u32 = 0;
        while attempt <= self.opts.retries {
            let blocked = self.circuit.lock().unwrap_or_else(|e| e.into_inner()).blocked(Instant::now());
            if let Some(left) = blocked {
                if !mid_answer {
                    return Err(rate_limited(left));
                }
                tokio::time::sleep(left).await;
            }
            let id = client_id();
            match self.api.send_message(message(peer, &id, item, token.as_deref())).await {
                Ok(answer) => {
                    return Ok(Sent { message_id: Some(answer.message_id.unwrap_or(id)), fell_back_to_plain: false });
                }
                Err(e) if (e.is_session_expired() || e.is_prepare_failed()) && token.is_some() && !dropped_token => {
                    tracing::warn!(error = %e, "WeChat refused the context token; retrying once without it");
                    self.tokens.drop_token(peer).await;
                    token = None;
                    dropped_token = true;
                    last = Some(e);
                    // Not counted: this is the recovery of the reference, not a retry.
                    continue;
                }
                Err(e) if e.is_prepare_failed() && !notified => {
                    notified = true;
                    self.recover_session().await;
                    last = Some(e);
                }
                Err(e) if e.is_session_expired() => {
                    return Err(SendError::Permanent(format!(
                        "{e}; the WeChat session expired: log in again with `herald login weixin`"
                    )));
                }
                Err(e) if e.is_prepare_failed() => {
                    return Err(SendError::Permanent(format!(
                        "{e}; WeChat delivers bot messages only for a while after the user's last message: \
                         ask the user to message the bot"
                    )));
                }
                Err(e) if is_rate_limit(&e) => {
                    let opened =
                        self.circuit.lock().unwrap_or_else(|e| e.into_inner()).record(Instant::now(), &self.opts);
                    if opened && !mid_answer {
                        return Err(rate_limited(self.opts.circuit_open));
                    }
                    if !opened {
                        tokio::time::sleep(self.opts.retry_delay * 3).await;
                    }
                    last = Some(e);
                }
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, attempt, "WeChat send failed; retrying");
                    tokio::time::sleep(self.opts.retry_delay * (attempt + 1)).await;
                    last = Some(e);
                }
                Err(e) => return Err(SendError::Permanent(e.to_string())),
            }
            attempt += 1;
        }
        Err(match last {
            Some(e) if is_rate_limit(&e) => rate_limited(self.opts.retry_delay * 3),
            Some(e) => SendError::Transient(e.to_string()),
            None => SendError::Transient("WeChat send failed".into()),
        })
    }

    /// The parts an answer goes out as: formatted for WeChat, then split (any length,
    /// Hermes's packing), each within [`MAX_MESSAGE_LEN`].
    pub fn parts(&self, text: &str) -> Vec<String> {
        format::split_text(&format::format_message(text), MAX_MESSAGE_LEN, self.opts.split)
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect()
    }

    /// Waits until the chunk gap since the last text to `peer` has passed, and
    /// records this send.
    async fn keep_gap(&self, peer: &str) {
        let gap = self.opts.chunk_delay;
        if gap.is_zero() {
            return;
        }
        let last = self.last_text.lock().unwrap_or_else(|e| e.into_inner()).get(peer).copied();
        if let Some(wait) = last.and_then(|t| gap.checked_sub(t.elapsed())) {
            tokio::time::sleep(wait).await;
        }
        let mut map = self.last_text.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= GAP_PEERS {
            map.retain(|_, t| t.elapsed() < gap);
        }
        map.insert(peer.to_string(), Instant::now());
    }

    /// Sends a text: Markdown formatted and split by [`Outbound::parts`], plain text
    /// (already formatted, as the gateway's parts are) up to [`MAX_MESSAGE_LEN`];
    /// chunk by chunk, in order, with the chunk gap before each.
    pub async fn send_text(&self, peer: &str, text: &str, fmt: TextFormat) -> Result<Sent, SendError> {
        if text.trim().is_empty() {
            return Err(SendError::Permanent("WeChat cannot send an empty message".into()));
        }
        let chunks = match fmt {
            TextFormat::Markdown => self.parts(text),
            // Plain text goes out as written: too long for one message, it is the
            // caller's to cut (the fallback cutter would add ` (i/N)` marks to it).
            TextFormat::Plain => {
                let n = text.chars().count();
                if n > MAX_MESSAGE_LEN {
                    return Err(SendError::TooLong(format!("{n} characters; WeChat allows {MAX_MESSAGE_LEN}")));
                }
                vec![text.to_string()]
            }
        };
        let _order = self.send_lock.lock().await;
        let mut sent = Sent::default();
        for (i, chunk) in chunks.iter().enumerate() {
            self.keep_gap(peer).await;
            sent = self.send_item(peer, &text_item(chunk), i > 0).await?;
        }
        Ok(sent)
    }

    /// Performs one operation for `target`.
    pub async fn perform(&self, target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
        let peer = target.chat_id.trim();
        if peer.is_empty() {
            return Err(SendError::Permanent("no WeChat peer to send to".into()));
        }
        match op {
            OutboundOp::Send { text, format } => self.send_text(peer, text, *format).await,
            OutboundOp::SendMedia { kind, path, caption } => {
                self.send_media(peer, *kind, path, caption.as_deref()).await
            }
            OutboundOp::Typing => {
                let token = self.tokens.get(peer).await;
                self.tickets.send(&self.api, peer, token.as_deref(), typing::TYPING_START).await.map_err(|e| {
                    if e.is_transient() {
                        SendError::Transient(e.to_string())
                    } else {
                        SendError::Permanent(e.to_string())
                    }
                })?;
                Ok(Sent::default())
            }
            OutboundOp::Edit { .. } => Err(SendError::Unsupported("WeChat messages cannot be edited")),
            OutboundOp::Delete { .. } => Err(SendError::Unsupported("WeChat messages cannot be deleted")),
            OutboundOp::Draft { .. } => Err(SendError::Unsupported("WeChat has no drafts")),
        }
    }

    async fn send_media(
        &self,
        peer: &str,
        kind: herald_core::MediaKind,
        path: &std::path::Path,
        caption: Option<&str>,
    ) -> Result<Sent, SendError> {
        let path: PathBuf = path.to_path_buf();
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| SendError::Permanent(format!("cannot read {}: {e}", path.display())))?;
        let item = super::upload::upload(self, peer, kind, &path, &bytes).await?;
        // Hermes: a caption goes as its own text message before the media.
        if let Some(c) = caption.filter(|c| !c.trim().is_empty()) {
            self.send_text(peer, c, TextFormat::Markdown).await?;
        }
        let _order = self.send_lock.lock().await;
        self.send_item(peer, &item, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(threshold: u32) -> SendOptions {
        SendOptions {
            split: SplitMode::Compact,
            chunk_delay: Duration::ZERO,
            retries: 4,
            retry_delay: Duration::from_secs(1),
            circuit_threshold: threshold,
            circuit_window: Duration::from_secs(30),
            circuit_open: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_circuit_opens_at_the_threshold_within_the_window() {
        let o = opts(2);
        let mut c = Circuit::default();
        let t0 = Instant::now();
        assert!(!c.record(t0, &o));
        assert_eq!(c.blocked(t0), None);
        // Outside the window the first event no longer counts.
        assert!(!c.record(t0 + Duration::from_secs(31), &o));
        assert!(c.record(t0 + Duration::from_secs(32), &o));
        assert_eq!(c.blocked(t0 + Duration::from_secs(32)), Some(Duration::from_secs(30)));
        assert_eq!(c.blocked(t0 + Duration::from_secs(62)), None);
        // Hermes's default threshold of 1: every rate limit opens it.
        assert!(Circuit::default().record(t0, &opts(1)));
    }

    #[test]
    fn outbound_messages_have_the_shape_of_the_reference() {
        let id = client_id();
        assert!(id.starts_with("herald-weixin-") && id.len() == "herald-weixin-".len() + 32, "{id}");
        assert_ne!(client_id(), id);
        let m = message("u@im.wechat", &id, &text_item("hi"), Some("ctx"));
        assert_eq!(
            m,
            json!({"from_user_id": "", "to_user_id": "u@im.wechat", "client_id": id, "message_type": 2,
                "message_state": 2, "item_list": [{"type": 1, "text_item": {"text": "hi"}}], "context_token": "ctx"})
        );
        assert!(message("u", "c", &text_item("x"), None).get("context_token").is_none());
    }
}
