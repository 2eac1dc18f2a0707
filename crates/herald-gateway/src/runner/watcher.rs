//! The expiry watcher (Hermes's `_session_expiry_watcher`): marks sessions whose reset
//! policy expired them as finalized, and prunes the gateway log.
//!
//! The reset itself happens when the next message arrives (so the user gets the notice
//! with their answer); the watcher only records that a session's life is over, so
//! nothing else (the API's session list, `/status`) mistakes it for a live one.

use std::time::Duration;

use herald_core::ChatType;
use herald_store::{SessionListQuery, SessionPatch, StoreError};

use super::{Shared, reset};

/// Hermes waits this long after start before the first sweep...
pub const FIRST_SWEEP: Duration = Duration::from_secs(60);
/// ...and this long between sweeps.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);
/// Finished inbound messages and sent replies are kept this long: far longer than any
/// platform redelivers a message, so the duplicate check never misses one.
pub const LOG_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

fn chat_type(value: Option<&str>) -> ChatType {
    match value {
        Some("group") => ChatType::Group,
        Some("channel") => ChatType::Channel,
        Some("thread") => ChatType::Thread,
        Some("forum") => ChatType::Forum,
        _ => ChatType::Dm,
    }
}

/// One sweep: returns how many sessions it finalized.
pub(crate) async fn sweep(shared: &Shared) -> Result<usize, StoreError> {
    let now = (shared.clock)();
    let mut finalized = 0;
    let mut offset = 0;
    loop {
        let page = shared
            .store
            .list_sessions(SessionListQuery { limit: 200, offset, platform: None, include_children: true })
            .await?;
        for session in &page.sessions {
            if session.key.is_none()
                || session.ended_at.is_some()
                || session.flags.expiry_finalized
                || session.flags.suspended
            {
                continue;
            }
            let policy = shared.config.reset.policy_for(&session.platform, chat_type(session.chat_type.as_deref()));
            if reset::expired(&policy, session.updated_at, now, &shared.time_zone).is_some() {
                let patch = SessionPatch { expiry_finalized: Some(true), ..SessionPatch::default() };
                shared.store.update_session(&session.id, patch).await?;
                finalized += 1;
            }
        }
        if !page.has_more {
            break;
        }
        offset += page.sessions.len() as u32;
    }
    let before = now - LOG_RETENTION.as_millis() as i64;
    shared.store.prune_gateway_log(before).await?;
    Ok(finalized)
}

/// Sweeps until the shutdown; three failures in a row stop it (as in Hermes), with a
/// warning, rather than filling the log every five minutes.
pub(crate) async fn run(shared: std::sync::Arc<Shared>) {
    let mut wait = FIRST_SWEEP;
    let mut failures = 0;
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = SWEEP_INTERVAL;
        match sweep(&shared).await {
            Ok(n) => {
                failures = 0;
                if n > 0 {
                    tracing::info!(finalized = n, "expired sessions finalized");
                }
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, failures, "the session expiry sweep failed");
                if failures >= 3 {
                    tracing::error!("the session expiry watcher stopped after three failures in a row");
                    return;
                }
            }
        }
    }
}
