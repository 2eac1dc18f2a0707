//! What the runner needs from delivery: send a whole reply, or stream one.
//!
//! A trait rather than the delivery type itself so the runner's tests can watch exactly
//! what it decided to say, while the gateway plugs in the durable, platform-aware
//! delivery (outbox, edits, chunking) for each adapter.

use async_trait::async_trait;
use herald_core::Target;

/// Where a reply belongs: the session it answers and the inbound message it finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub session_id: Option<String>,
    /// When set, that inbound message is finished with `outcome` in the same write that
    /// queues the reply, so a crash cannot answer it twice or leave it unanswered.
    pub inbound_id: Option<i64>,
    pub outcome: Option<String>,
}

impl Origin {
    pub fn session(session_id: impl Into<String>) -> Origin {
        Origin { session_id: Some(session_id.into()), inbound_id: None, outcome: None }
    }

    pub fn finishing(mut self, inbound_id: i64, outcome: &str) -> Origin {
        self.inbound_id = Some(inbound_id);
        self.outcome = Some(outcome.to_string());
        self
    }
}

/// Delivery failed for good: the store refused the write (the platform's failures are
/// retried by the outbox and never reach the runner).
#[derive(Debug, thiserror::Error)]
#[error("cannot queue the reply: {0}")]
pub struct ReplyError(pub String);

/// A reply being written while the model streams it.
#[async_trait]
pub trait ReplyStream: Send {
    /// New text of the answer. Never blocks.
    fn push_delta(&mut self, delta: &str);

    /// The whole final answer (it replaces what was streamed); an empty or silence
    /// answer removes the previews and sends nothing.
    async fn finish(self: Box<Self>, final_text: &str, origin: Origin) -> Result<(), ReplyError>;

    /// Stops streaming without a final answer (the gateway is shutting down and the
    /// turn will be resumed): previews are left as they are.
    async fn abandon(self: Box<Self>);
}

/// Replies to one platform.
#[async_trait]
pub trait Replies: Send + Sync + 'static {
    /// Sends `text` durably, split as the platform needs.
    async fn send_text(&self, target: &Target, text: &str, origin: Origin) -> Result<(), ReplyError>;

    /// Opens a streaming reply; platforms that cannot edit get only the final answer.
    fn stream(&self, target: &Target, session_id: &str) -> Box<dyn ReplyStream>;

    /// Marks `target` as typing, where the platform can. Best effort.
    async fn typing(&self, target: &Target);
}
