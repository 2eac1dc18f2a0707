//! Long polling with `getUpdates`.
//!
//! Telegram keeps every update until a later `getUpdates` names an `offset` above its
//! id, so the offset is the durability cursor: it moves past an update only once the
//! gateway recorded it (or it was skipped for good). After a failure or a crash the
//! same updates come again and the gateway's duplicate check drops the copies.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use herald_core::{AdapterError, InboundSink, SinkError};
use serde_json::json;

use super::api::CALL_TIMEOUT;
use super::inbound::{self, Ctx, Retry};
use super::parse;

/// The update kinds herald handles; asking only for these keeps edits, reactions and
/// member updates off the wire.
pub const ALLOWED_UPDATES: &[&str] = &["message", "channel_post"];

pub async fn run(
    ctx: &Ctx,
    sink: &Arc<dyn InboundSink>,
    offset: &Mutex<Option<i64>>,
    poll_timeout: Duration,
) -> Result<(), AdapterError> {
    loop {
        let current = *offset.lock().unwrap_or_else(|e| e.into_inner());
        let mut body = json!({"timeout": poll_timeout.as_secs(), "allowed_updates": ALLOWED_UPDATES});
        if let Some(o) = current {
            body["offset"] = json!(o);
        }
        let updates: Vec<serde_json::Value> = ctx
            .api
            .call("getUpdates", &body, poll_timeout + CALL_TIMEOUT / 4)
            .await
            .map_err(|e| e.to_adapter_error())?;
        // Parsed and downloaded in order, then recorded in one write: a full batch
        // costs one wait for the store, not one per update.
        let mut prepared: Vec<(Option<i64>, bool)> = Vec::with_capacity(updates.len());
        let mut messages = Vec::with_capacity(updates.len());
        let mut stopped: Option<(Option<i64>, Retry)> = None;
        for value in updates {
            let id = parse::update_id(&value);
            match inbound::prepare(ctx, value).await {
                Ok(message) => {
                    prepared.push((id, message.is_some()));
                    messages.extend(message);
                }
                Err(e) => {
                    stopped = Some((id, e));
                    break;
                }
            }
        }
        let mut outcomes = sink.deliver_all(messages).await.into_iter();
        for (id, delivered) in prepared {
            if delivered && let Some(Err(e)) = outcomes.next() {
                stopped = Some((id, Retry::Sink(e)));
                break;
            }
            if let Some(id) = id {
                let mut o = offset.lock().unwrap_or_else(|e| e.into_inner());
                let next = id.saturating_add(1);
                if o.is_none_or(|cur| next > cur) {
                    *o = Some(next);
                }
            }
        }
        match stopped {
            None => {}
            Some((_, Retry::Sink(SinkError::ShuttingDown))) => {
                return Err(AdapterError::Disconnected("the gateway is stopping".into()));
            }
            Some((id, e)) => {
                tracing::warn!(update_id = id, error = %e, "Telegram update not recorded; it will be fetched again");
                return Err(AdapterError::Disconnected(format!(
                    "update {} was not recorded, so the offset stays for a retry: {e}",
                    id.unwrap_or_default()
                )));
            }
        }
    }
}
