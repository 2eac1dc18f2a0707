//! When a session has expired (Hermes's `_should_reset`), and the words that tell the
//! user and the model about it.
//!
//! Pure: the caller supplies the clock and the time zone, so tests pin every boundary.

use std::time::Duration;

use herald_core::config::ResetPolicy;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Why a conversation started over without being asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetReason {
    /// No message for longer than the idle window.
    Idle { idle: Duration },
    /// The daily reset hour passed since the last message.
    Daily { at_hour: u8 },
    /// The previous session was stopped or interrupted and suspended.
    Suspended,
    /// A turn interrupted by a restart was too old to resume.
    ResumeExpired,
}

impl ResetReason {
    /// The value stored in the session's `auto_reset_reason` (Hermes's words).
    pub fn code(&self) -> &'static str {
        match self {
            ResetReason::Idle { .. } => "idle",
            ResetReason::Daily { .. } => "daily",
            ResetReason::Suspended => "suspended",
            ResetReason::ResumeExpired => "resume_pending_expired",
        }
    }

    /// The note the model sees at the start of the new session.
    pub fn system_note(&self) -> &'static str {
        match self {
            ResetReason::Idle { .. } => {
                "The previous session expired due to inactivity; this is a fresh conversation without its history."
            }
            ResetReason::Daily { .. } => {
                "The previous session was reset by the daily schedule; this is a fresh conversation without its history."
            }
            ResetReason::Suspended | ResetReason::ResumeExpired => {
                "The previous session was stopped and suspended; this is a fresh conversation without its history."
            }
        }
    }

    /// The notice sent to the user (Hermes's text, minus the `/resume` hint: herald has
    /// no `/resume` yet).
    pub fn notice(&self) -> String {
        let reason = match self {
            ResetReason::Idle { idle } => format!("inactive for {}", hours_minutes(*idle)),
            ResetReason::Daily { at_hour } => format!("daily schedule at {at_hour}:00"),
            ResetReason::Suspended | ResetReason::ResumeExpired => {
                "previous session was stopped or interrupted".to_string()
            }
        };
        format!(
            "◐ Session automatically reset ({reason}). Conversation history cleared.\n\
             Adjust reset timing in config.yaml under session_reset."
        )
    }

    /// Suspension notices go out even where reset notices are switched off, as in Hermes.
    pub fn always_notified(&self) -> bool {
        matches!(self, ResetReason::Suspended | ResetReason::ResumeExpired)
    }
}

/// `Nh`, `Nh Mm` or `Mm`, as Hermes formats the idle time.
fn hours_minutes(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// Whether a session last active at `updated_at_ms` has expired under `policy` at
/// `now_ms`, and why. Idle is checked before daily, as in Hermes.
pub fn expired(policy: &ResetPolicy, updated_at_ms: i64, now_ms: i64, tz: &TimeZone) -> Option<ResetReason> {
    if policy.mode.checks_idle() {
        let window = policy.idle_minutes.saturating_mul(60_000) as i64;
        if now_ms > updated_at_ms.saturating_add(window) {
            return Some(ResetReason::Idle { idle: Duration::from_millis((now_ms - updated_at_ms).max(0) as u64) });
        }
    }
    if policy.mode.checks_daily()
        && let Some(boundary) = daily_boundary(policy.at_hour, now_ms, tz)
        && updated_at_ms < boundary
    {
        return Some(ResetReason::Daily { at_hour: policy.at_hour });
    }
    None
}

/// Today at `at_hour` in `tz`, or yesterday's when that hour has not come yet.
fn daily_boundary(at_hour: u8, now_ms: i64, tz: &TimeZone) -> Option<i64> {
    let now = Timestamp::from_millisecond(now_ms).ok()?.to_zoned(tz.clone());
    let today = now.date().at(at_hour.min(23) as i8, 0, 0, 0).to_zoned(tz.clone()).ok()?;
    let boundary = if now.hour() < at_hour as i8 { today.checked_sub(1.day()).ok()? } else { today };
    Some(boundary.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::config::ResetMode;

    fn at(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn policy(mode: ResetMode) -> ResetPolicy {
        ResetPolicy { mode, at_hour: 4, idle_minutes: 60 }
    }

    #[test]
    fn idle_expires_strictly_after_the_window() {
        let p = policy(ResetMode::Idle);
        let tz = TimeZone::UTC;
        let last = at("2026-12-01T10:00:00Z");
        assert_eq!(expired(&p, last, at("2026-12-01T11:00:00Z"), &tz), None);
        assert_eq!(
            expired(&p, last, at("2026-12-01T11:00:00.001Z"), &tz),
            Some(ResetReason::Idle { idle: Duration::from_millis(3_600_001) })
        );
    }

    #[test]
    fn daily_boundary_is_today_at_the_hour_or_yesterday_before_it() {
        let p = policy(ResetMode::Daily);
        let tz = TimeZone::UTC;
        // 03:00 today is before the boundary: the boundary is yesterday 04:00.
        assert_eq!(expired(&p, at("2026-12-01T05:00:00Z"), at("2026-12-02T03:00:00Z"), &tz), None);
        assert_eq!(
            expired(&p, at("2026-12-01T03:59:00Z"), at("2026-12-02T03:00:00Z"), &tz),
            Some(ResetReason::Daily { at_hour: 4 })
        );
        assert_eq!(
            expired(&p, at("2026-12-02T03:59:00Z"), at("2026-12-02T04:00:00Z"), &tz),
            Some(ResetReason::Daily { at_hour: 4 })
        );
        assert_eq!(expired(&p, at("2026-12-02T04:00:00Z"), at("2026-12-02T23:00:00Z"), &tz), None);
    }

    #[test]
    fn daily_follows_the_configured_time_zone() {
        let p = policy(ResetMode::Daily);
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 04:00 in Berlin in December is 03:00 UTC.
        assert_eq!(
            expired(&p, at("2026-12-02T02:59:00Z"), at("2026-12-02T03:00:00Z"), &berlin),
            Some(ResetReason::Daily { at_hour: 4 })
        );
        assert_eq!(expired(&p, at("2026-12-02T03:00:00Z"), at("2026-12-02T03:30:00Z"), &berlin), None);
    }

    #[test]
    fn both_checks_idle_first_and_none_never_expires() {
        let tz = TimeZone::UTC;
        let (last, now) = (at("2026-12-01T01:00:00Z"), at("2026-12-02T05:00:00Z"));
        assert!(matches!(expired(&policy(ResetMode::Both), last, now, &tz), Some(ResetReason::Idle { .. })));
        assert_eq!(expired(&policy(ResetMode::None), last, now, &tz), None);
    }

    #[test]
    fn notices_use_hermes_reason_words() {
        assert!(ResetReason::Idle { idle: Duration::from_secs(90 * 60) }.notice().contains("(inactive for 1h 30m)"));
        assert!(ResetReason::Idle { idle: Duration::from_secs(2 * 3600) }.notice().contains("(inactive for 2h)"));
        assert!(ResetReason::Idle { idle: Duration::from_secs(61 * 60 - 1) }.notice().contains("(inactive for 1h)"));
        assert!(
            ResetReason::Daily { at_hour: 4 }
                .notice()
                .starts_with("◐ Session automatically reset (daily schedule at 4:00). Conversation history cleared.")
        );
        assert!(ResetReason::Suspended.notice().contains("(previous session was stopped or interrupted)"));
    }
}
