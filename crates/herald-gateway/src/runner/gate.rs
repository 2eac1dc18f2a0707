//! Admission: the check every message passes before it reaches a session.

use async_trait::async_trait;
use herald_core::Inbound;

/// What admission decided about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// The sender may talk: the message goes to its session.
    Pass,
    /// Not admitted, with something to tell the sender (a pairing code, "try later").
    Reply(String),
    /// Not admitted, silently; the message is finished with this outcome.
    Drop(&'static str),
}

/// Decides whether a message may reach the agent.
#[async_trait]
pub trait Gate: Send + Sync + 'static {
    async fn admit(&self, inbound: &Inbound) -> Admit;
}
