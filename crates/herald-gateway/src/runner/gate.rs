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

/// The gateway's admission: a message without a platform id that repeats one just seen
/// is dropped (Hermes's deduplicator; a message with an id is already deduplicated,
/// durably, by the inbound log, and Hermes fingerprints content only where platforms
/// give no reliable id, so "yes" sent twice on Telegram is answered twice), then authorization in Hermes's order; a
/// stranger in a DM gets a pairing code when `unauthorized_dm_behavior` is `pair`.
pub struct AccessGate {
    admission: crate::admission::Admission,
    dedup: std::sync::Mutex<crate::admission::Dedup>,
    store: std::sync::Arc<dyn herald_store::Store>,
}

impl AccessGate {
    pub fn new(
        store: std::sync::Arc<dyn herald_store::Store>,
        access: herald_core::config::AccessConfig,
    ) -> AccessGate {
        AccessGate {
            admission: crate::admission::Admission::new(access),
            dedup: std::sync::Mutex::new(crate::admission::Dedup::default()),
            store,
        }
    }
}

#[async_trait]
impl Gate for AccessGate {
    async fn admit(&self, inbound: &Inbound) -> Admit {
        use crate::admission::{Decision, IgnoreReason, pairing_reply};
        let now = jiff::Timestamp::now().as_millisecond();
        if inbound.message_id.is_none()
            && self.dedup.lock().unwrap_or_else(std::sync::PoisonError::into_inner).seen(inbound, now)
        {
            return Admit::Drop("duplicate");
        }
        let store = self.store.clone();
        let decision = self
            .admission
            .check(inbound, |platform, user| async move {
                // A store failure counts as "not approved": refusing is the safe side.
                store.pairing_is_approved(platform.as_str(), &user).await.unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot read pairing approvals; treating the sender as unknown");
                    false
                })
            })
            .await;
        match decision {
            Decision::Allow => Admit::Pass,
            Decision::Ignore(IgnoreReason::NotAuthorizedInGroup) => Admit::Drop("unauthorized"),
            Decision::Ignore(IgnoreReason::UnauthorizedDmIgnored) => Admit::Drop("unauthorized"),
            Decision::Ignore(IgnoreReason::NoUserId) => Admit::Drop("unauthorized"),
            Decision::Pair => {
                let source = &inbound.source;
                let user = source.user_id.clone().unwrap_or_default();
                match self
                    .store
                    .pairing_request(source.platform.as_str(), &user, source.user_name.as_deref(), now)
                    .await
                {
                    Ok(answer) => match pairing_reply(&source.platform, &answer) {
                        Some(text) => Admit::Reply(text),
                        // Rate limited: Hermes stays silent.
                        None => Admit::Drop("unauthorized"),
                    },
                    Err(error) => {
                        tracing::warn!(%error, "cannot issue a pairing code");
                        Admit::Reply(crate::admission::PAIRING_UNAVAILABLE_TEXT.to_string())
                    }
                }
            }
        }
    }
}
