//! The `getupdates` long poll (weixin-ilink.md §B.5, hermes-gateway.md §12.2).
//!
//! The cursor (`get_updates_buf`) is the durability cursor: it is read from the
//! adapter state when the listener starts and written back only after every message of
//! the batch was delivered and recorded, so a crash or a refused delivery fetches the
//! same batch again and the gateway's duplicate check drops the copies.
//!
//! Failures follow TW and Hermes: retry after 2 s, back off 30 s after 3 in a row;
//! an expired session (`-14`, or `-2` "unknown error") pauses polling for 10 minutes;
//! `-2` "prepare failed" calls `notifystart` (at most once a minute) to recover a
//! degraded session.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{AdapterError, AdapterState, InboundSink, SinkError};

use super::api::{Api, ApiError, LONG_POLL_TIMEOUT};
use super::inbound::{self, Ctx, Retry};
use super::state::CURSOR_KEY;

/// The failure ladder. The defaults are the reference's; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollTiming {
    /// Wait after one failed poll.
    pub retry_delay: Duration,
    /// Wait after `max_failures` in a row.
    pub backoff: Duration,
    pub max_failures: u32,
    /// Pause after the session expired.
    pub session_pause: Duration,
}

impl Default for PollTiming {
    fn default() -> Self {
        PollTiming {
            retry_delay: Duration::from_secs(2),
            backoff: Duration::from_secs(30),
            max_failures: 3,
            session_pause: Duration::from_secs(600),
        }
    }
}

/// The most of a suggested timeout herald honours: the server suggests tens of seconds.
const MAX_SUGGESTED: Duration = Duration::from_secs(300);
/// Added to the server's hold time so its answer, not the client timeout, ends a poll.
const GRACE: Duration = Duration::from_secs(5);

/// Sends `notifystop` when the listener ends, also when its future is dropped.
struct StopGuard(Api);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let api = self.0.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = api.notify_stop().await {
                    tracing::debug!(error = %e, "WeChat notifystop failed");
                }
            });
        }
    }
}

pub async fn run(
    ctx: &Ctx,
    sink: &Arc<dyn InboundSink>,
    state: &dyn AdapterState,
    timing: PollTiming,
) -> Result<(), AdapterError> {
    let api = ctx.out.api.clone();
    let mut cursor = state
        .get(CURSOR_KEY)
        .await
        .map_err(|e| AdapterError::Disconnected(format!("cannot read the WeChat sync cursor: {e}")))?
        .unwrap_or_default();
    let _stop = StopGuard(api.clone());
    let mut connected = false;
    match api.notify_start().await {
        Ok(()) => {
            sink.connected(Some(ctx.account_id.clone()));
            connected = true;
        }
        Err(e) => tracing::warn!(error = %e, "WeChat notifystart failed; polling anyway"),
    }
    let mut timeout = LONG_POLL_TIMEOUT;
    let mut failures: u32 = 0;
    loop {
        let answer = match api.get_updates(&cursor, timeout + GRACE).await {
            Ok(a) => a,
            // A client-side timeout is an empty poll (Hermes returns `{ret:0, msgs:[]}`).
            Err(ApiError::Timeout { .. }) => continue,
            Err(e) if e.is_session_expired() => {
                tracing::error!(error = %e, pause = ?timing.session_pause,
                    "the WeChat session expired; pausing (run `herald login weixin` if it does not recover)");
                sink.paused(&format!(
                    "the WeChat session expired ({e}); polling paused for {} s; `herald login weixin` ends the pause",
                    timing.session_pause.as_secs()
                ));
                tokio::time::sleep(timing.session_pause).await;
                failures = 0;
                // The next good poll reports the connection again.
                connected = false;
                continue;
            }
            Err(e) => {
                if e.is_prepare_failed() {
                    ctx.out.recover_session().await;
                }
                failures += 1;
                if failures >= timing.max_failures {
                    tracing::warn!(error = %e, failures, wait = ?timing.backoff, "WeChat getupdates keeps failing; backing off");
                    tokio::time::sleep(timing.backoff).await;
                    failures = 0;
                } else {
                    tracing::warn!(error = %e, failures, "WeChat getupdates failed; retrying");
                    tokio::time::sleep(timing.retry_delay).await;
                }
                continue;
            }
        };
        failures = 0;
        if !connected {
            sink.connected(Some(ctx.account_id.clone()));
            connected = true;
        }
        if let Some(ms) = answer.longpolling_timeout_ms.filter(|ms| *ms > 0) {
            timeout = Duration::from_millis(ms as u64).min(MAX_SUGGESTED);
        }
        for raw in &answer.msgs {
            match inbound::handle(ctx, raw, sink).await {
                Ok(()) => {}
                Err(Retry::Sink(SinkError::ShuttingDown)) => {
                    return Err(AdapterError::Disconnected("the gateway is stopping".into()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WeChat message not recorded; the batch will be fetched again");
                    return Err(AdapterError::Disconnected(format!(
                        "a WeChat message was not recorded, so the cursor stays for a retry: {e}"
                    )));
                }
            }
        }
        if let Some(next) = answer.get_updates_buf.filter(|c| !c.is_empty() && *c != cursor) {
            state
                .put(CURSOR_KEY, &next)
                .await
                .map_err(|e| AdapterError::Disconnected(format!("cannot store the WeChat sync cursor: {e}")))?;
            cursor = next;
        }
    }
}
