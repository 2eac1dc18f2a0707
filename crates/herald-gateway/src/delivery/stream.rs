//! The stream consumer (Hermes's `GatewayStreamConsumer`): shows an answer while the
//! model writes it, by editing a preview message or updating a native draft, at most
//! every edit interval or when enough new text arrived; backs off under flood control
//! and gives up editing after three strikes.
//!
//! Previews are ephemeral and go straight to the platform. The final answer does not:
//! [`super::Delivery`] queues it in the outbox, so it survives failures and restarts.

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::StreamingConfig;
use herald_core::{Adapter, Capabilities, ChatType, LengthUnit, OutboundOp, SendError, Target, TextFormat};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::silence::could_become_silence;
use super::think::ThinkFilter;

/// Hermes's `_MAX_FLOOD_STRIKES`.
pub const MAX_FLOOD_STRIKES: u32 = 3;
/// The edit interval doubles under flood control up to this.
pub const MAX_EDIT_INTERVAL: Duration = Duration::from_secs(10);

/// How a preview is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A message edited in place.
    Edit,
    /// A native draft (Telegram `sendMessageDraft`) with this id.
    Draft(u64),
    /// No preview: only the final answer is sent.
    Off,
}

/// Picks the transport for a chat from the setting and what the platform can do.
pub fn transport_for(config: &StreamingConfig, caps: &Capabilities, target: &Target, draft_id: u64) -> Transport {
    let dm = target.chat_type == Some(ChatType::Dm);
    match config.transport.as_str() {
        "off" => Transport::Off,
        _ if !config.enabled => Transport::Off,
        "draft" if caps.draft_in_dm && dm => Transport::Draft(draft_id),
        "auto" if caps.draft_in_dm && dm => Transport::Draft(draft_id),
        _ if caps.edit => Transport::Edit,
        _ => Transport::Off,
    }
}

/// What the preview looked like when the answer finished.
#[derive(Debug, Clone, Default)]
pub struct PreviewState {
    /// The edited preview message, if one was sent.
    pub message_id: Option<String>,
    /// The answer text the preview shows (without the cursor).
    pub shown: String,
    /// Flood control stopped the edits.
    pub flood_stopped: bool,
    /// When the preview message was first sent.
    pub created: Option<Instant>,
}

pub enum Msg {
    Delta(String),
    Finish(oneshot::Sender<PreviewState>),
}

pub struct Consumer {
    pub adapter: Arc<dyn Adapter>,
    pub target: Target,
    pub transport: Transport,
    pub config: StreamingConfig,
    pub max_len: usize,
    pub unit: LengthUnit,
}

impl Consumer {
    fn safe_limit(&self) -> usize {
        500.max(self.max_len.saturating_sub(self.unit.len(&self.config.cursor) + 100))
    }

    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut filter = ThinkFilter::new();
        let mut text = String::new();
        let mut state = PreviewState::default();
        let mut interval = self.config.edit_interval;
        let mut strikes = 0;
        let mut last_update: Option<Instant> = None;
        let mut started: Option<Instant> = None;
        let mut shown_chars = 0usize;
        let mut stopped = false;
        loop {
            // When unshown text waits, the next interval boundary updates the preview
            // even if no delta arrives.
            // Text held back (blank, or a possible silence marker) arms no tick: only a
            // new delta can change that, and a tick already past would fire at once,
            // again and again, spinning the task until the next delta.
            let next_tick = started.map(|s| last_update.unwrap_or(s) + interval);
            let held = text.trim().is_empty() || could_become_silence(&text);
            let waiting = !stopped && !held && text.chars().count() != shown_chars;
            let msg = tokio::select! {
                msg = rx.recv() => msg,
                _ = sleep_until(next_tick), if waiting => Some(Msg::Delta(String::new())),
            };
            match msg {
                None => return,
                Some(Msg::Finish(reply)) => {
                    text.push_str(&filter.finish());
                    let _ = reply.send(state);
                    return;
                }
                Some(Msg::Delta(delta)) => {
                    if started.is_none() && !delta.is_empty() {
                        started = Some(Instant::now());
                    }
                    text.push_str(&filter.push(&delta));
                    if stopped || text.trim().is_empty() || could_become_silence(&text) {
                        continue;
                    }
                    let now = Instant::now();
                    let new_chars = text.chars().count().saturating_sub(shown_chars);
                    // The first preview goes out once enough text arrived (or an interval
                    // passed); later ones at most once per interval.
                    let due = match (last_update, started) {
                        (None, Some(s)) => new_chars >= self.config.buffer_threshold || now >= s + interval,
                        (Some(t), _) => now >= t + interval,
                        (None, None) => false,
                    };
                    if new_chars == 0 || !due {
                        continue;
                    }
                    if self.unit.len(&text) > self.safe_limit() {
                        // Past one message: the preview stays as it is and the final
                        // answer is split into messages.
                        stopped = true;
                        continue;
                    }
                    let display = format!("{text}{}", self.config.cursor);
                    last_update = Some(now);
                    match self.show(&mut state, &display).await {
                        Ok(()) => {
                            strikes = 0;
                            state.shown = text.clone();
                            shown_chars = text.chars().count();
                        }
                        Err(SendError::NotModified) => shown_chars = text.chars().count(),
                        Err(SendError::RateLimited { retry_after }) => {
                            strikes += 1;
                            interval = (interval * 2).max(retry_after).min(MAX_EDIT_INTERVAL);
                            tracing::info!(strikes, ?interval, "preview edits rate limited");
                            if strikes >= MAX_FLOOD_STRIKES {
                                state.flood_stopped = true;
                                stopped = true;
                            }
                        }
                        Err(error) => {
                            tracing::debug!(%error, "preview update failed; no more previews for this answer");
                            stopped = true;
                        }
                    }
                }
            }
        }
    }

    async fn show(&self, state: &mut PreviewState, display: &str) -> Result<(), SendError> {
        let op = match (self.transport, &state.message_id) {
            (Transport::Draft(draft_id), _) => OutboundOp::Draft { draft_id, text: display.to_string() },
            (Transport::Edit, Some(id)) => {
                OutboundOp::Edit { message_id: id.clone(), text: display.to_string(), format: TextFormat::Plain }
            }
            (Transport::Edit, None) => OutboundOp::Send { text: display.to_string(), format: TextFormat::Plain },
            (Transport::Off, _) => return Ok(()),
        };
        let sent = self.adapter.send(&self.target, &op).await?;
        if self.transport == Transport::Edit && state.message_id.is_none() {
            state.message_id = sent.message_id;
            state.created = Some(Instant::now());
        }
        Ok(())
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
