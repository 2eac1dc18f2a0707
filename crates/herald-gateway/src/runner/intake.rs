//! Where adapters hand messages to the runner: each message is recorded in the inbound
//! log before the adapter may move its platform cursor, then routed off the adapter's
//! path.
//!
//! At most [`MAX_IN_FLIGHT`] messages are taken and not yet done (queued for a session
//! or in a turn). Past that, `deliver` waits before recording, so the adapter stops
//! polling and the platform, which keeps unconfirmed updates, holds the backlog: a burst
//! of any size costs the gateway bounded memory, and nothing is lost.

use async_trait::async_trait;
use herald_core::{Accepted, Inbound, InboundSink, SinkError};
use herald_store::NewInbound;
use tokio::sync::OwnedSemaphorePermit;

use super::{Runner, dedup_key};

/// Messages taken and not yet done, over every platform.
pub const MAX_IN_FLIGHT: usize = 1024;
/// The most of one batch recorded in one write (and waited for at once).
const BATCH: usize = 256;

impl Runner {
    /// Places for `n` messages in the in-flight limit, waiting while it is full; an
    /// error when the gateway stops meanwhile.
    async fn places(&self, n: usize) -> Result<OwnedSemaphorePermit, SinkError> {
        let wanted = u32::try_from(n).unwrap_or(u32::MAX);
        tokio::select! {
            permit = self.shared.in_flight.clone().acquire_many_owned(wanted) => {
                permit.map_err(|_| SinkError::ShuttingDown)
            }
            _ = self.shared.shutdown.cancelled() => Err(SinkError::ShuttingDown),
        }
    }

    /// Records up to [`BATCH`] messages in one write and routes them in order.
    async fn take(&self, messages: Vec<Inbound>) -> Vec<Result<Accepted, SinkError>> {
        let failed = |messages: &[Inbound], e: SinkError| messages.iter().map(|_| Err(e.clone())).collect();
        if self.shared.shutdown.is_cancelled() {
            return failed(&messages, SinkError::ShuttingDown);
        }
        let mut permit = match self.places(messages.len()).await {
            Ok(p) => p,
            Err(e) => return failed(&messages, e),
        };
        let mut rows = Vec::with_capacity(messages.len());
        for message in &messages {
            let payload = match serde_json::to_string(message) {
                Ok(p) => p,
                Err(e) => return failed(&messages, SinkError::NotRecorded(e.to_string())),
            };
            rows.push(NewInbound {
                platform: message.source.platform.as_str().to_string(),
                account: None,
                dedup_key: dedup_key(message),
                payload_json: payload,
                received_at: jiff::Timestamp::now().as_millisecond(),
            });
        }
        let recorded = match self.shared.store.record_inbound_many(rows).await {
            Ok(r) => r,
            Err(e) => return failed(&messages, SinkError::NotRecorded(e.to_string())),
        };
        // Routed in the platform's order, after the whole batch is durable.
        let mut routed = Vec::with_capacity(messages.len());
        let outcomes = messages
            .into_iter()
            .zip(recorded)
            .map(|(message, recorded)| {
                // Each message takes one place with it; a copy or a refusal frees its own.
                let place = permit.split(1);
                match recorded {
                    Ok(r) if r.duplicate => {
                        tracing::debug!(inbound_id = r.id, "dropped a message the log already holds");
                        Ok(Accepted::Duplicate)
                    }
                    Ok(r) => {
                        routed.push((r.id, message, place));
                        Ok(Accepted::Recorded)
                    }
                    Err(e) => Err(SinkError::NotRecorded(e.to_string())),
                }
            })
            .collect();
        self.route_all(routed);
        outcomes
    }
}

#[async_trait]
impl InboundSink for Runner {
    async fn deliver(&self, message: Inbound) -> Result<Accepted, SinkError> {
        self.take(vec![message])
            .await
            .pop()
            .unwrap_or_else(|| Err(SinkError::NotRecorded("the message was not taken".into())))
    }

    async fn deliver_all(&self, mut messages: Vec<Inbound>) -> Vec<Result<Accepted, SinkError>> {
        let mut out = Vec::with_capacity(messages.len());
        while !messages.is_empty() {
            let rest = messages.split_off(messages.len().min(BATCH));
            out.extend(self.take(messages).await);
            messages = rest;
        }
        out
    }

    fn connected(&self, detail: Option<String>) {
        tracing::info!(detail = detail.as_deref().unwrap_or(""), "adapter connected");
    }
}
