//! Which session a message joins: the key's current session, or a new one when there
//! is none, it was ended, it was suspended, or its reset policy says it expired.

use herald_core::Inbound;
use herald_store::{NewSession, SessionPatch, SessionRecord, StoreError};

use super::Shared;
use super::reset::{self, ResetReason};

/// The session a turn will use.
pub struct Resolved {
    /// The session's fields; `id` is always set. Created by the turn's first write when
    /// new.
    pub session: NewSession,
    /// Set when the previous session was reset automatically.
    pub reset: Option<ResetReason>,
    /// Whether the user is told about the reset.
    pub notify: bool,
}

/// The fields of a new session for a message.
pub fn new_session(key: &str, inbound: &Inbound) -> NewSession {
    let source = &inbound.source;
    NewSession {
        id: Some(herald_store::new_session_id()),
        key: Some(key.to_string()),
        platform: source.platform.as_str().to_string(),
        chat_type: Some(source.chat_type.as_str().to_string()),
        origin_json: serde_json::to_string(source).ok(),
        display_name: source.chat_name.clone().or_else(|| source.user_name.clone()),
        ..NewSession::default()
    }
}

/// The fields that let `open_turn` continue an existing session.
pub fn existing(record: &SessionRecord) -> NewSession {
    NewSession {
        id: Some(record.id.clone()),
        key: record.key.clone(),
        platform: record.platform.clone(),
        chat_type: record.chat_type.clone(),
        origin_json: record.origin_json.clone(),
        display_name: record.display_name.clone(),
        ..NewSession::default()
    }
}

/// Resolves the session for `inbound` under `key` at `now_ms`.
pub async fn resolve(shared: &Shared, key: &str, inbound: &Inbound, now_ms: i64) -> Result<Resolved, StoreError> {
    let current = shared.store.latest_session_for_key(key).await?;
    let Some(current) = current.filter(|s| s.ended_at.is_none()) else {
        return Ok(Resolved { session: new_session(key, inbound), reset: None, notify: false });
    };
    let platform = inbound.source.platform.as_str();
    let reason = if current.flags.suspended {
        Some(ResetReason::Suspended)
    } else if current.flags.resume_pending && current.flags.resume_reason.as_deref() == Some("resume_pending_expired") {
        Some(ResetReason::ResumeExpired)
    } else {
        let policy = shared.config.reset.policy_for(platform, inbound.source.chat_type);
        reset::expired(&policy, current.updated_at, now_ms, &shared.time_zone)
    };
    let Some(reason) = reason else {
        return Ok(Resolved { session: existing(&current), reset: None, notify: false });
    };
    let had_activity = current.message_count > 0;
    shared.store.end_session(&current.id, "session_reset").await?;
    let fresh = new_session(key, inbound);
    let created = shared.store.create_session(fresh.clone()).await?;
    shared
        .store
        .update_session(
            &created.id,
            SessionPatch {
                was_auto_reset: Some(true),
                auto_reset_reason: Some(Some(reason.code().to_string())),
                reset_had_activity: Some(had_activity),
                ..SessionPatch::default()
            },
        )
        .await?;
    let notify = reason.always_notified() || (had_activity && shared.config.reset.notifies(platform));
    tracing::info!(key, old = %current.id, new = %created.id, reason = reason.code(), "session reset");
    Ok(Resolved { session: fresh, reset: Some(reason), notify })
}

/// `/new` and `/reset`: ends the key's current session; the next message opens a new
/// one (flagged `is_fresh_reset`). Returns the ended session's id.
pub async fn reset_by_user(shared: &Shared, key: &str) -> Result<Option<String>, StoreError> {
    match shared.store.latest_session_for_key(key).await? {
        Some(current) if current.ended_at.is_none() => {
            shared.store.end_session(&current.id, "new_session").await?;
            Ok(Some(current.id))
        }
        _ => Ok(None),
    }
}
