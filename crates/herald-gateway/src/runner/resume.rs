//! After a restart: what the inbound log holds unfinished is handled again.
//!
//! A message only recorded goes through admission and its session as if it had just
//! arrived. A message whose turn had started (its text is in the transcript) is resumed
//! in that session, unless it is older than the freshness window (dropped, and the
//! session starts over) or its session failed to resume three times in a row (the
//! session is suspended: something in it keeps taking the gateway down).

use herald_core::Inbound;
use herald_store::{InboundState, SessionPatch, StoreError};

use super::actor::{Job, Work};
use super::{Shared, finish};

/// Consecutive failed resumes after which a session is suspended (Hermes's
/// `_STUCK_LOOP_THRESHOLD`).
pub const MAX_FAILED_RESUMES: u32 = 3;

const STATE_NAMESPACE: &str = "runner";

/// What a resume did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResumeReport {
    /// Turns resumed in their session.
    pub resumed: usize,
    /// Messages never started, handled again from the start.
    pub requeued: usize,
    /// Too old to resume.
    pub expired: usize,
    /// Their session is suspended after repeated failed resumes.
    pub suspended: usize,
    /// Unreadable rows, finished so they stop coming back.
    pub unreadable: usize,
}

fn failures_key(session_key: &str) -> String {
    format!("resume_failures:{session_key}")
}

/// How many resumes of `session_key` in a row did not finish.
pub async fn failed_resumes(shared: &Shared, session_key: &str) -> u32 {
    match shared.store.state_get(STATE_NAMESPACE, &failures_key(session_key)).await {
        Ok(Some(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Records the outcome of a resumed turn: an answer clears the count; anything else
/// leaves it (it was raised before the attempt, so a crash during it counts too).
pub async fn resumed_turn_ended(shared: &Shared, session_key: &str, session_id: &str, answered: bool) {
    if answered && let Err(error) = shared.store.state_put(STATE_NAMESPACE, &failures_key(session_key), "0").await {
        tracing::warn!(%error, "cannot clear the failed-resume count");
    }
    let patch = SessionPatch { resume_pending: Some(false), resume_reason: Some(None), ..SessionPatch::default() };
    if let Err(error) = shared.store.update_session(session_id, patch).await {
        tracing::warn!(%error, "cannot clear the session's resume mark");
    }
}

pub async fn resume(shared: &std::sync::Arc<Shared>, platform: &str) -> Result<ResumeReport, StoreError> {
    let mut report = ResumeReport::default();
    let now = (shared.clock)();
    let freshness = shared.config.auto_continue_freshness.as_millis() as i64;
    for row in shared.store.pending_inbound(platform).await? {
        let Ok(inbound) = serde_json::from_str::<Inbound>(&row.payload_json) else {
            tracing::warn!(inbound_id = row.id, "an unfinished message in the log cannot be read; dropping it");
            finish(shared, row.id, "unreadable").await;
            report.unreadable += 1;
            continue;
        };
        let key = herald_core::build_session_key(&inbound.source, shared.key_policy, None).to_string();
        let session_id = match (row.state, row.session_id.clone()) {
            (InboundState::Started, Some(id)) => id,
            _ => {
                // Never started: admission and routing as if it had just arrived.
                report.requeued += 1;
                super::Runner { shared: shared.clone() }.route(row.id, inbound, None);
                continue;
            }
        };
        if freshness <= 0 || now - row.received_at > freshness {
            tracing::info!(inbound_id = row.id, session = %session_id, "an interrupted turn is too old to resume");
            finish(shared, row.id, "expired").await;
            let patch = SessionPatch {
                resume_pending: Some(true),
                resume_reason: Some(Some("resume_pending_expired".into())),
                ..SessionPatch::default()
            };
            shared.store.update_session(&session_id, patch).await?;
            report.expired += 1;
            continue;
        }
        let failed = failed_resumes(shared, &key).await;
        if failed >= MAX_FAILED_RESUMES {
            tracing::warn!(session = %session_id, failed, "suspending a session whose turn failed to resume repeatedly");
            shared
                .store
                .update_session(&session_id, SessionPatch { suspended: Some(true), ..SessionPatch::default() })
                .await?;
            shared.store.state_put(STATE_NAMESPACE, &failures_key(&key), "0").await?;
            finish(shared, row.id, "suspended").await;
            report.suspended += 1;
            continue;
        }
        shared.store.state_put(STATE_NAMESPACE, &failures_key(&key), &(failed + 1).to_string()).await?;
        let patch = SessionPatch {
            resume_pending: Some(true),
            resume_reason: Some(Some("restart_interrupted".into())),
            last_resume_marked_at: Some(Some(now)),
            ..SessionPatch::default()
        };
        shared.store.update_session(&session_id, patch).await?;
        let mut job = Job::new(row.id, inbound);
        job.resume_session = Some(session_id);
        shared.send(&key, Work::Message(job));
        report.resumed += 1;
    }
    Ok(report)
}
