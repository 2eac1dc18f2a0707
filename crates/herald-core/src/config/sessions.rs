//! How chat conversations are kept: reset policies (Hermes's `session_reset`), session
//! isolation in groups and threads, what a message sent while the agent is busy does,
//! resuming after a restart, and how answers stream.
//!
//! Hermes reads per-type and per-platform reset policies only from its legacy
//! `gateway.json`; herald reads them from `config.yaml`
//! (`session_reset.by_type.<type>.*`, `session_reset.by_platform.<platform>.*`).

use std::time::Duration;

use super::Values;
use crate::ChatType;

/// When a conversation starts over on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    None,
    Idle,
    Daily,
    Both,
}

impl ResetMode {
    fn parse(raw: &str) -> Option<ResetMode> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Some(ResetMode::None),
            "idle" => Some(ResetMode::Idle),
            "daily" => Some(ResetMode::Daily),
            "both" => Some(ResetMode::Both),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResetMode::None => "none",
            ResetMode::Idle => "idle",
            ResetMode::Daily => "daily",
            ResetMode::Both => "both",
        }
    }

    pub fn checks_idle(self) -> bool {
        matches!(self, ResetMode::Idle | ResetMode::Both)
    }

    pub fn checks_daily(self) -> bool {
        matches!(self, ResetMode::Daily | ResetMode::Both)
    }
}

/// One reset policy (Hermes `SessionResetPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetPolicy {
    pub mode: ResetMode,
    /// 0–23, in the configured time zone.
    pub at_hour: u8,
    pub idle_minutes: u64,
}

/// A partial policy: unset fields fall back to the next layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetOverride {
    pub mode: Option<ResetMode>,
    pub at_hour: Option<u8>,
    pub idle_minutes: Option<u64>,
}

impl ResetOverride {
    fn read(v: &Values<'_>, prefix: &str) -> ResetOverride {
        ResetOverride {
            mode: v.text(&format!("{prefix}.mode")).and_then(|m| ResetMode::parse(&m)),
            at_hour: v.text(&format!("{prefix}.at_hour")).and_then(|h| h.trim().parse().ok()),
            idle_minutes: v.text(&format!("{prefix}.idle_minutes")).and_then(|m| m.trim().parse().ok()),
        }
    }

    fn apply(self, base: ResetPolicy) -> ResetPolicy {
        ResetPolicy {
            mode: self.mode.unwrap_or(base.mode),
            at_hour: self.at_hour.unwrap_or(base.at_hour),
            idle_minutes: self.idle_minutes.unwrap_or(base.idle_minutes),
        }
    }
}

/// The chat types that have their own `session_reset.by_type.<type>` block.
pub const RESET_CHAT_TYPES: [ChatType; 5] =
    [ChatType::Dm, ChatType::Group, ChatType::Channel, ChatType::Thread, ChatType::Forum];

/// The platforms that have their own `session_reset.by_platform.<platform>` block.
pub const RESET_PLATFORMS: [&str; 1] = ["telegram"];

/// Reset policies with their layers and the notice settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionResetConfig {
    pub default: ResetPolicy,
    pub by_type: Vec<(ChatType, ResetOverride)>,
    pub by_platform: Vec<(String, ResetOverride)>,
    pub notify: bool,
    pub notify_exclude_platforms: Vec<String>,
}

impl SessionResetConfig {
    /// The policy for a chat: platform over chat type over the default, field by field.
    pub fn policy_for(&self, platform: &str, chat_type: ChatType) -> ResetPolicy {
        let mut policy = self.default;
        if let Some((_, o)) = self.by_type.iter().find(|(t, _)| *t == chat_type) {
            policy = o.apply(policy);
        }
        if let Some((_, o)) = self.by_platform.iter().find(|(p, _)| p == platform) {
            policy = o.apply(policy);
        }
        policy
    }

    /// Whether an automatic reset on `platform` is announced to the user.
    pub fn notifies(&self, platform: &str) -> bool {
        self.notify && !self.notify_exclude_platforms.iter().any(|p| p == platform)
    }
}

/// What a message sent while the agent is answering does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyInputMode {
    Interrupt,
    Queue,
    Steer,
}

/// How answers stream (Hermes `StreamingConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamingConfig {
    pub enabled: bool,
    /// `auto`, `draft`, `edit` or `off`.
    pub transport: String,
    pub edit_interval: Duration,
    pub buffer_threshold: usize,
    pub cursor: String,
    /// Zero: the final answer always edits the preview in place.
    pub fresh_final_after: Duration,
}

/// The conversation settings of the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionsConfig {
    pub reset: SessionResetConfig,
    pub group_sessions_per_user: bool,
    pub thread_sessions_per_user: bool,
    pub busy_input_mode: BusyInputMode,
    pub busy_ack_enabled: bool,
    /// Zero disables resuming interrupted turns after a restart.
    pub auto_continue_freshness: Duration,
    pub streaming: StreamingConfig,
}

fn seconds(raw: Option<f64>, default: f64) -> Duration {
    Duration::from_secs_f64(raw.unwrap_or(default).max(0.0))
}

impl SessionsConfig {
    pub(super) fn from_values(v: &Values<'_>) -> SessionsConfig {
        let default = ResetPolicy {
            mode: v.text("session_reset.mode").and_then(|m| ResetMode::parse(&m)).unwrap_or(ResetMode::None),
            at_hour: v.text("session_reset.at_hour").and_then(|h| h.trim().parse().ok()).unwrap_or(4),
            idle_minutes: match v.uint("session_reset.idle_minutes") {
                0 => 1440,
                n => n,
            },
        };
        let by_type = RESET_CHAT_TYPES
            .iter()
            .map(|t| (*t, ResetOverride::read(v, &format!("session_reset.by_type.{}", t.as_str()))))
            .filter(|(_, o)| *o != ResetOverride::default())
            .collect();
        let by_platform = RESET_PLATFORMS
            .iter()
            .map(|p| (p.to_string(), ResetOverride::read(v, &format!("session_reset.by_platform.{p}"))))
            .filter(|(_, o)| *o != ResetOverride::default())
            .collect();
        SessionsConfig {
            reset: SessionResetConfig {
                default,
                by_type,
                by_platform,
                notify: v.bool("session_reset.notify"),
                notify_exclude_platforms: super::telegram::split_list(v.text("session_reset.notify_exclude_platforms")),
            },
            group_sessions_per_user: v.bool("group_sessions_per_user"),
            thread_sessions_per_user: v.bool("thread_sessions_per_user"),
            busy_input_mode: match v.text("display.busy_input_mode").unwrap_or_default().to_ascii_lowercase().as_str() {
                "queue" => BusyInputMode::Queue,
                "steer" => BusyInputMode::Steer,
                _ => BusyInputMode::Interrupt,
            },
            busy_ack_enabled: v.bool("display.busy_ack_enabled"),
            auto_continue_freshness: Duration::from_secs(v.uint("agent.gateway_auto_continue_freshness")),
            streaming: StreamingConfig {
                enabled: v.bool("streaming.enabled"),
                transport: v.text("streaming.transport").unwrap_or_else(|| "auto".into()).to_ascii_lowercase(),
                edit_interval: seconds(v.float("streaming.edit_interval"), 0.8),
                buffer_threshold: v.uint("streaming.buffer_threshold").max(1) as usize,
                cursor: v.text("streaming.cursor").unwrap_or_else(|| " ▉".into()),
                fresh_final_after: seconds(v.float("streaming.fresh_final_after_seconds"), 0.0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigLoader;

    fn load(yaml: &str) -> SessionsConfig {
        let mut loader = ConfigLoader::new();
        loader.yaml("config.yaml", yaml).unwrap();
        loader.build().unwrap().config.sessions
    }

    #[test]
    fn defaults_match_hermes() {
        let c = load("");
        assert_eq!(c.reset.default, ResetPolicy { mode: ResetMode::None, at_hour: 4, idle_minutes: 1440 });
        assert!(c.reset.notify);
        assert!(!c.reset.notifies("api_server") && !c.reset.notifies("webhook") && c.reset.notifies("telegram"));
        assert!(c.group_sessions_per_user && !c.thread_sessions_per_user);
        assert_eq!(c.busy_input_mode, BusyInputMode::Interrupt);
        assert_eq!(c.auto_continue_freshness, Duration::from_secs(3600));
        assert_eq!(c.streaming.edit_interval, Duration::from_millis(800));
        assert_eq!(c.streaming.buffer_threshold, 24);
        assert_eq!(c.streaming.cursor, " ▉");
    }

    #[test]
    fn platform_wins_over_type_over_default_field_by_field() {
        let c = load(
            "session_reset:\n  mode: daily\n  at_hour: 5\n  by_type:\n    group:\n      mode: idle\n      idle_minutes: 60\n  by_platform:\n    telegram:\n      at_hour: 7\n",
        );
        assert_eq!(
            c.reset.policy_for("telegram", ChatType::Group),
            ResetPolicy { mode: ResetMode::Idle, at_hour: 7, idle_minutes: 60 }
        );
        assert_eq!(
            c.reset.policy_for("weixin", ChatType::Group),
            ResetPolicy { mode: ResetMode::Idle, at_hour: 5, idle_minutes: 60 }
        );
        assert_eq!(
            c.reset.policy_for("weixin", ChatType::Dm),
            ResetPolicy { mode: ResetMode::Daily, at_hour: 5, idle_minutes: 1440 }
        );
    }

    #[test]
    fn a_bad_mode_is_refused_with_the_choices() {
        let mut loader = ConfigLoader::new();
        loader.yaml("config.yaml", "session_reset:\n  mode: sometimes\n").unwrap();
        let error = loader.build().unwrap_err().to_string();
        assert!(error.contains("session_reset.mode") && error.contains("idle"), "{error}");
    }
}
