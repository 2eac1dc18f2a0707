//! The outbox worker: sends what the store holds as due, in order per chat, and records
//! each outcome. A row is claimed (durably) before its send, so after a crash a row
//! left in flight is marked unknown and never sent again: a reply may be lost in that
//! window but is never delivered twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, stream};
use herald_core::{Adapter, OutboundOp, SendError, Target};
use herald_store::{OutboundRow, Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Retries give up after this many attempts.
pub const MAX_ATTEMPTS: u32 = 8;
/// Hermes waits at most this long before retrying a flood fallback send.
const MAX_FALLBACK_WAIT: Duration = Duration::from_secs(5);
/// How often the worker looks even when nothing woke it (retries fall due).
const POLL: Duration = Duration::from_millis(500);
/// Pending rows one pass looks at (due ones and the retries that hold their chat back).
const PASS_ROWS: u32 = 256;
/// Chats sent to at once in a pass.
const CONCURRENT_CHATS: usize = 16;

pub struct Outbox {
    pub adapter: Arc<dyn Adapter>,
    pub store: Arc<dyn Store>,
    pub platform: String,
    pub wake: Notify,
    /// What the preview of a queued final edit shows, by (chat, message id), on
    /// platforms that fall back on a flood-limited final edit: the fallback sends only
    /// the rest. Kept in memory only (previews are ephemeral): after a restart the
    /// fallback sends the whole text, repeating rather than losing.
    pub previews: Mutex<HashMap<(String, String), String>>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Backoff for attempt `n` (1-based): 1 s, 2 s, 4 s … capped at 60 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

impl Outbox {
    /// Remembers what the preview `message_id` in `target` shows, for the fallback of
    /// its final edit.
    pub fn remember_preview(&self, target: &Target, message_id: &str, shown: &str) {
        self.previews.lock().unwrap().insert((target.chat_id.clone(), message_id.to_string()), shown.to_string());
    }

    fn take_preview(&self, target: &Target, op: &OutboundOp) -> Option<String> {
        let OutboundOp::Edit { message_id, .. } = op else { return None };
        self.previews.lock().unwrap().remove(&(target.chat_id.clone(), message_id.clone()))
    }

    /// Puts back what [`Outbox::take_preview`] took, when the row is retried.
    fn keep_preview(&self, target: &Target, op: &OutboundOp, shown: Option<String>) {
        if let (OutboundOp::Edit { message_id, .. }, Some(shown)) = (op, shown) {
            self.remember_preview(target, message_id, &shown);
        }
    }

    /// At startup: rows a crash left in flight become unknown (never resent).
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let abandoned = self.store.abandon_in_flight(&self.platform, None).await?;
        if !abandoned.is_empty() {
            tracing::warn!(
                platform = %self.platform,
                count = abandoned.len(),
                "replies that were being sent when the process stopped are not sent again"
            );
        }
        Ok(abandoned.len())
    }

    /// Sends until `cancel`; wakes at once when something is queued.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            match self.pass().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "the outbox could not be read"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass over what is due: each chat's rows in order, several chats at once. A
    /// chat whose row must wait (a retry not due, a failed send) holds its later rows
    /// until a later pass, so one chat's messages never overtake each other; other
    /// chats go on. Returns whether anything was sent.
    pub async fn pass(&self) -> Result<bool, StoreError> {
        // Every pending row, due or not, in queue order: a row not yet due holds its
        // chat's later rows back.
        let now = now_ms();
        let pending = self.store.due_outbound(&self.platform, None, i64::MAX, PASS_ROWS).await?;
        // Grouped by chat, each group in the store's order.
        let mut chats: Vec<Vec<OutboundRow>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for row in pending {
            let chat = chat_of(&row);
            match index.get(&chat) {
                Some(&i) => chats[i].push(row),
                None => {
                    index.insert(chat, chats.len());
                    chats.push(vec![row]);
                }
            }
        }
        // Sent one at a time, a message costs a claim, a send and a completion in
        // turn, which caps a platform near 1,000 messages a second however idle the
        // machine; chats side by side share the store's batched writes instead.
        let results: Vec<Result<bool, StoreError>> = stream::iter(chats)
            .map(|rows| self.send_chat(rows, now))
            .buffer_unordered(CONCURRENT_CHATS)
            .collect()
            .await;
        let mut sent_any = false;
        for r in results {
            sent_any |= r?;
        }
        Ok(sent_any)
    }

    /// One chat's due rows, in order, until one must wait.
    async fn send_chat(&self, rows: Vec<OutboundRow>, now: i64) -> Result<bool, StoreError> {
        let mut sent_any = false;
        for row in rows {
            if row.due_at > now || !self.send_row(row).await? {
                break;
            }
            sent_any = true;
        }
        Ok(sent_any)
    }

    /// Sends one row; `false` when it must wait (retry later).
    async fn send_row(&self, row: OutboundRow) -> Result<bool, StoreError> {
        let Some(row) = self.store.claim_outbound(row.id).await? else { return Ok(true) };
        let (target, op) = match (
            serde_json::from_str::<Target>(&row.target_json),
            serde_json::from_str::<OutboundOp>(&row.op_json),
        ) {
            (Ok(t), Ok(o)) => (t, o),
            _ => {
                self.store.fail_outbound(row.id, "the stored send cannot be read").await?;
                return Ok(true);
            }
        };
        let shown = self.take_preview(&target, &op);
        match self.adapter.send(&target, &op).await {
            Ok(sent) => {
                self.store.complete_outbound(row.id, sent.message_id.as_deref()).await?;
                Ok(true)
            }
            Err(SendError::NotModified) => {
                self.store.complete_outbound(row.id, None).await?;
                Ok(true)
            }
            // The preview to replace is gone: the final text goes out as a new message.
            Err(SendError::MessageGone(_)) if matches!(op, OutboundOp::Edit { .. }) => {
                let OutboundOp::Edit { text, format, .. } = op else { unreachable!() };
                let fresh = OutboundOp::Send { text, format };
                let result = self.adapter.send(&target, &fresh).await;
                match result {
                    Ok(sent) => self.store.complete_outbound(row.id, sent.message_id.as_deref()).await?,
                    Err(e) => self.store.fail_outbound(row.id, &e.to_string()).await?,
                }
                Ok(true)
            }
            Err(SendError::MessageGone(_)) if matches!(op, OutboundOp::Delete { .. }) => {
                self.store.complete_outbound(row.id, None).await?;
                Ok(true)
            }
            // Hermes's FALLBACK_ON_FINAL_EDIT_FLOOD. Every edit in the outbox is a
            // turn-final one (previews skip it); when the platform asks, a final edit
            // refused for flood control is not retried after the platform's wait (which
            // can be long): what the preview does not show yet goes out as a new
            // message now.
            Err(SendError::RateLimited { .. })
                if matches!(op, OutboundOp::Edit { .. })
                    && self.adapter.capabilities().fallback_on_final_edit_flood =>
            {
                let OutboundOp::Edit { text, format, .. } = &op else { unreachable!() };
                let Some(tail) = unshown_tail(shown.as_deref(), text) else {
                    // The preview already shows all of it.
                    self.store.complete_outbound(row.id, None).await?;
                    return Ok(true);
                };
                tracing::info!(id = row.id, "final edit rate limited; sending the rest as a new message");
                match self.adapter.send(&target, &OutboundOp::Send { text: tail, format: *format }).await {
                    Ok(sent) => {
                        self.store.complete_outbound(row.id, sent.message_id.as_deref()).await?;
                        Ok(true)
                    }
                    Err(error) if error.is_retryable() && row.attempts < MAX_ATTEMPTS => {
                        let wait = match &error {
                            SendError::RateLimited { retry_after } => (*retry_after).max(Duration::from_millis(100)),
                            _ => backoff(row.attempts),
                        }
                        .min(MAX_FALLBACK_WAIT);
                        tracing::info!(id = row.id, %error, ?wait, "fallback send failed; retrying");
                        self.keep_preview(&target, &op, shown);
                        self.store
                            .retry_outbound(row.id, &error.to_string(), now_ms() + wait.as_millis() as i64)
                            .await?;
                        Ok(false)
                    }
                    Err(error) => {
                        tracing::warn!(id = row.id, %error, "fallback send failed for good");
                        self.store.fail_outbound(row.id, &error.to_string()).await?;
                        Ok(true)
                    }
                }
            }
            Err(error) if error.is_retryable() && row.attempts < MAX_ATTEMPTS => {
                self.keep_preview(&target, &op, shown);
                let wait = match &error {
                    SendError::RateLimited { retry_after } => (*retry_after).max(Duration::from_millis(100)),
                    _ => backoff(row.attempts),
                };
                tracing::info!(id = row.id, %error, ?wait, "send failed; retrying");
                self.store.retry_outbound(row.id, &error.to_string(), now_ms() + wait.as_millis() as i64).await?;
                Ok(false)
            }
            Err(error) => {
                tracing::warn!(id = row.id, %error, "send failed for good");
                self.store.fail_outbound(row.id, &error.to_string()).await?;
                Ok(true)
            }
        }
    }
}

/// What a flood fallback sends instead of the final edit `text` when the preview shows
/// `shown`: the rest, or all of it when the preview is unknown or not a prefix; `None`
/// when nothing is missing.
fn unshown_tail(shown: Option<&str>, text: &str) -> Option<String> {
    match shown.filter(|s| !s.is_empty()).and_then(|s| text.strip_prefix(s)) {
        Some(tail) if tail.trim().is_empty() => None,
        Some(tail) => Some(tail.trim_start().to_string()),
        None => Some(text.to_string()),
    }
}

fn chat_of(row: &OutboundRow) -> String {
    serde_json::from_str::<Target>(&row.target_json)
        .map(|t| format!("{}:{}", t.chat_id, t.thread_id.unwrap_or_default()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_fallback_sends_only_what_the_preview_lacks() {
        assert_eq!(unshown_tail(Some("The start"), "The start and the end").as_deref(), Some("and the end"));
        assert_eq!(unshown_tail(Some("The start"), "The start "), None);
        assert_eq!(unshown_tail(None, "All of it").as_deref(), Some("All of it"));
        assert_eq!(unshown_tail(Some("Other"), "All of it").as_deref(), Some("All of it"));
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(20), Duration::from_secs(60));
    }
}
