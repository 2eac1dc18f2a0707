//! Who may talk to the agent: allowlists, allow-all switches, what an unknown direct
//! message gets, and who may run which slash command (reference §1.3, §4.1, §4.2, §4.4).
//!
//! The gateway's admission (`herald_gateway::admission`) and slash-command tiers
//! (`herald_gateway::commands::access`) read only this struct. Platforms whose settings
//! are in the registry (Telegram, WeChat) are filled by [`AccessConfig::from_values`];
//! [`PLATFORM_ACCESS_ENV`] keeps Hermes's variable names for every other platform, so a
//! new adapter registers exactly those names and inserts its [`PlatformAccess`].

use std::collections::BTreeMap;

use super::Values;
use super::telegram::{AllowBots, split_list};
use crate::Platform;

/// What an unknown sender's direct message gets (`unauthorized_dm_behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthorizedDmBehavior {
    /// A pairing code the operator approves with `herald pairing approve`.
    Pair,
    /// Silence.
    Ignore,
}

impl UnauthorizedDmBehavior {
    /// Hermes's parsing: `ignore` (any case) is `Ignore`, everything else `Pair`.
    pub fn parse(raw: &str) -> UnauthorizedDmBehavior {
        if raw.trim().eq_ignore_ascii_case("ignore") {
            UnauthorizedDmBehavior::Ignore
        } else {
            UnauthorizedDmBehavior::Pair
        }
    }
}

/// The DM or group policy of an adapter that filters senders itself before the gateway
/// sees them (Hermes's `enforces_own_access_policy` adapters: Weixin, QQ, WeCom, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterPolicy {
    Open,
    Allowlist,
    Disabled,
    Pairing,
}

/// Who may run which slash command on one platform (Hermes's `slash_access.py`).
/// Empty admin lists turn gating off for that scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlashAccessConfig {
    /// `allow_admin_from`: user ids that may run everything in direct messages.
    pub allow_admin_from: Vec<String>,
    /// `user_allowed_commands`: what everyone else may run in direct messages.
    pub user_allowed_commands: Vec<String>,
    /// `group_allow_admin_from`.
    pub group_allow_admin_from: Vec<String>,
    /// `group_user_allowed_commands`.
    pub group_user_allowed_commands: Vec<String>,
}

/// One platform's access settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAccess {
    /// `<P>_ALLOWED_USERS`.
    pub allowed_users: Vec<String>,
    /// `<P>_ALLOW_ALL_USERS`.
    pub allow_all_users: bool,
    /// Sender ids allowed in groups and forums (`TELEGRAM_GROUP_ALLOWED_USERS`).
    pub group_allowed_users: Vec<String>,
    /// Group chat ids where everyone is allowed; `*` is every group
    /// (`TELEGRAM_GROUP_ALLOWED_CHATS`, QQ's `QQ_GROUP_ALLOWED_USERS`).
    pub group_allowed_chats: Vec<String>,
    /// `<P>_ALLOW_BOTS`: bot authors pass authorization for `mentions` and `all`.
    pub allow_bots: AllowBots,
    /// The platform's own `unauthorized_dm_behavior`, when set explicitly.
    pub unauthorized_dm_behavior: Option<UnauthorizedDmBehavior>,
    /// Set by the runner for adapters that enforce their own policy; `None` otherwise.
    pub dm_policy: Option<AdapterPolicy>,
    pub group_policy: Option<AdapterPolicy>,
    pub slash: SlashAccessConfig,
}

impl Default for PlatformAccess {
    fn default() -> Self {
        PlatformAccess {
            allowed_users: Vec::new(),
            allow_all_users: false,
            group_allowed_users: Vec::new(),
            group_allowed_chats: Vec::new(),
            allow_bots: AllowBots::None,
            unauthorized_dm_behavior: None,
            dm_policy: None,
            group_policy: None,
            slash: SlashAccessConfig::default(),
        }
    }
}

/// Every access setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `GATEWAY_ALLOWED_USERS`: user ids allowed on every platform.
    pub allowed_users: Vec<String>,
    /// `GATEWAY_ALLOW_ALL_USERS`: consulted only when no allowlist at all is configured
    /// for the platform (Hermes's order, §4.1 step 8).
    pub allow_all_users: bool,
    /// The global `unauthorized_dm_behavior` (default `pair`).
    pub unauthorized_dm_behavior: UnauthorizedDmBehavior,
    pub platforms: BTreeMap<Platform, PlatformAccess>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            allowed_users: Vec::new(),
            allow_all_users: false,
            unauthorized_dm_behavior: UnauthorizedDmBehavior::Pair,
            platforms: BTreeMap::new(),
        }
    }
}

/// Hermes's environment variable names for one platform's access settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformAccessEnv {
    pub platform: &'static str,
    pub allowed_users: &'static str,
    pub allow_all_users: &'static str,
    pub group_allowed_users: Option<&'static str>,
    pub group_allowed_chats: Option<&'static str>,
    pub allow_bots: Option<&'static str>,
}

const fn env(platform: &'static str, allowed: &'static str, all: &'static str) -> PlatformAccessEnv {
    PlatformAccessEnv {
        platform,
        allowed_users: allowed,
        allow_all_users: all,
        group_allowed_users: None,
        group_allowed_chats: None,
        allow_bots: None,
    }
}

const fn with_bots(mut e: PlatformAccessEnv, bots: &'static str) -> PlatformAccessEnv {
    e.allow_bots = Some(bots);
    e
}

/// Hermes's allowlist and allow-all variables per platform (`authz_mixin.py`, §1.3).
pub const PLATFORM_ACCESS_ENV: &[PlatformAccessEnv] = &[
    PlatformAccessEnv {
        platform: "telegram",
        allowed_users: "TELEGRAM_ALLOWED_USERS",
        allow_all_users: "TELEGRAM_ALLOW_ALL_USERS",
        group_allowed_users: Some("TELEGRAM_GROUP_ALLOWED_USERS"),
        group_allowed_chats: Some("TELEGRAM_GROUP_ALLOWED_CHATS"),
        allow_bots: Some("TELEGRAM_ALLOW_BOTS"),
    },
    with_bots(env("discord", "DISCORD_ALLOWED_USERS", "DISCORD_ALLOW_ALL_USERS"), "DISCORD_ALLOW_BOTS"),
    env("whatsapp", "WHATSAPP_ALLOWED_USERS", "WHATSAPP_ALLOW_ALL_USERS"),
    env("whatsapp_cloud", "WHATSAPP_CLOUD_ALLOWED_USERS", "WHATSAPP_CLOUD_ALLOW_ALL_USERS"),
    with_bots(env("slack", "SLACK_ALLOWED_USERS", "SLACK_ALLOW_ALL_USERS"), "SLACK_ALLOW_BOTS"),
    env("signal", "SIGNAL_ALLOWED_USERS", "SIGNAL_ALLOW_ALL_USERS"),
    env("email", "EMAIL_ALLOWED_USERS", "EMAIL_ALLOW_ALL_USERS"),
    env("sms", "SMS_ALLOWED_USERS", "SMS_ALLOW_ALL_USERS"),
    env("mattermost", "MATTERMOST_ALLOWED_USERS", "MATTERMOST_ALLOW_ALL_USERS"),
    env("matrix", "MATRIX_ALLOWED_USERS", "MATRIX_ALLOW_ALL_USERS"),
    env("dingtalk", "DINGTALK_ALLOWED_USERS", "DINGTALK_ALLOW_ALL_USERS"),
    with_bots(env("feishu", "FEISHU_ALLOWED_USERS", "FEISHU_ALLOW_ALL_USERS"), "FEISHU_ALLOW_BOTS"),
    env("wecom", "WECOM_ALLOWED_USERS", "WECOM_ALLOW_ALL_USERS"),
    env("wecom_callback", "WECOM_CALLBACK_ALLOWED_USERS", "WECOM_CALLBACK_ALLOW_ALL_USERS"),
    env("weixin", "WEIXIN_ALLOWED_USERS", "WEIXIN_ALLOW_ALL_USERS"),
    env("bluebubbles", "BLUEBUBBLES_ALLOWED_USERS", "BLUEBUBBLES_ALLOW_ALL_USERS"),
    PlatformAccessEnv {
        platform: "qqbot",
        allowed_users: "QQ_ALLOWED_USERS",
        allow_all_users: "QQ_ALLOW_ALL_USERS",
        group_allowed_users: None,
        // QQ's "group allowed users" holds group chat ids, not sender ids.
        group_allowed_chats: Some("QQ_GROUP_ALLOWED_USERS"),
        allow_bots: None,
    },
    env("yuanbao", "YUANBAO_ALLOWED_USERS", "YUANBAO_ALLOW_ALL_USERS"),
];

/// Hermes's variable names for `platform`, if it has any.
pub fn platform_access_env(platform: &str) -> Option<&'static PlatformAccessEnv> {
    PLATFORM_ACCESS_ENV.iter().find(|e| e.platform == platform)
}

/// Command names as the slash-access lists hold them: lower case, no leading `/`.
fn command_list(raw: Option<String>) -> Vec<String> {
    split_list(raw).into_iter().map(|c| c.trim_start_matches('/').to_ascii_lowercase()).collect()
}

fn allow_bots(raw: Option<String>) -> AllowBots {
    match raw.unwrap_or_default().trim().to_ascii_lowercase().as_str() {
        "mentions" => AllowBots::Mentions,
        "all" => AllowBots::All,
        _ => AllowBots::None,
    }
}

/// WeChat enforces its DM and group policies in the adapter (Hermes's
/// `enforces_own_access_policy`); admission gets them too, so an `allowlist` policy
/// without a list trusts the adapter's filter and `pairing` hands out codes.
fn weixin(v: &Values<'_>) -> PlatformAccess {
    use super::weixin::parse_policy;
    PlatformAccess {
        allowed_users: split_list(v.text("weixin.allowed_users")),
        allow_all_users: v.bool("weixin.allow_all_users"),
        group_allowed_users: Vec::new(),
        // Hermes's WEIXIN_GROUP_ALLOWED_USERS holds group chat ids.
        group_allowed_chats: split_list(v.text("weixin.group_allowed_users")),
        allow_bots: AllowBots::None,
        unauthorized_dm_behavior: None,
        dm_policy: Some(parse_policy(&v.text("weixin.dm_policy").unwrap_or_default(), AdapterPolicy::Pairing)),
        group_policy: Some(parse_policy(&v.text("weixin.group_policy").unwrap_or_default(), AdapterPolicy::Disabled)),
        slash: SlashAccessConfig::default(),
    }
}

impl AccessConfig {
    pub(super) fn from_values(v: &Values<'_>) -> AccessConfig {
        let telegram = PlatformAccess {
            allowed_users: split_list(v.text("telegram.allowed_users")),
            allow_all_users: v.bool("telegram.allow_all_users"),
            group_allowed_users: split_list(v.text("telegram.group_allowed_users")),
            group_allowed_chats: split_list(v.text("telegram.group_allowed_chats")),
            allow_bots: allow_bots(v.text("telegram.allow_bots")),
            unauthorized_dm_behavior: v
                .text("telegram.unauthorized_dm_behavior")
                .map(|s| UnauthorizedDmBehavior::parse(&s)),
            dm_policy: None,
            group_policy: None,
            slash: SlashAccessConfig {
                allow_admin_from: split_list(v.text("telegram.allow_admin_from")),
                user_allowed_commands: command_list(v.text("telegram.user_allowed_commands")),
                group_allow_admin_from: split_list(v.text("telegram.group_allow_admin_from")),
                group_user_allowed_commands: command_list(v.text("telegram.group_user_allowed_commands")),
            },
        };
        AccessConfig {
            allowed_users: split_list(v.text("gateway.allowed_users")),
            allow_all_users: v.bool("gateway.allow_all_users"),
            unauthorized_dm_behavior: UnauthorizedDmBehavior::parse(
                &v.text("unauthorized_dm_behavior").unwrap_or_default(),
            ),
            platforms: BTreeMap::from([(Platform::Telegram, telegram), (Platform::Weixin, weixin(v))]),
        }
    }

    /// The settings of `platform`; a platform nobody configured has empty lists.
    pub fn platform(&self, platform: &Platform) -> &PlatformAccess {
        static EMPTY: std::sync::OnceLock<PlatformAccess> = std::sync::OnceLock::new();
        self.platforms.get(platform).unwrap_or_else(|| EMPTY.get_or_init(PlatformAccess::default))
    }
}

#[cfg(test)]
mod tests {
    use super::super::ConfigLoader;
    use super::*;

    fn load(env: &[(&str, &str)], yaml: &str) -> AccessConfig {
        let mut l = ConfigLoader::new();
        l.yaml("config.yaml", yaml).unwrap();
        l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.build().unwrap().config.access
    }

    #[test]
    fn defaults_pair_and_allow_nobody() {
        let c = load(&[], "");
        assert_eq!(c.unauthorized_dm_behavior, UnauthorizedDmBehavior::Pair);
        assert!(!c.allow_all_users);
        assert!(c.allowed_users.is_empty());
        let t = c.platform(&Platform::Telegram);
        assert_eq!(t.unauthorized_dm_behavior, None);
        assert_eq!(t.allow_bots, AllowBots::None);
        assert_eq!(c.platform(&Platform::Discord), &PlatformAccess::default());
    }

    #[test]
    fn hermes_env_names_and_yaml_blocks_load() {
        let c = load(
            &[
                ("GATEWAY_ALLOWED_USERS", "7, 8"),
                ("GATEWAY_ALLOW_ALL_USERS", "yes"),
                ("TELEGRAM_ALLOWED_USERS", "1,2"),
                ("TELEGRAM_ALLOW_ALL_USERS", "1"),
                ("TELEGRAM_GROUP_ALLOWED_USERS", "3"),
                ("TELEGRAM_GROUP_ALLOWED_CHATS", "-100,*"),
                ("TELEGRAM_ALLOW_BOTS", "all"),
            ],
            "unauthorized_dm_behavior: ignore\ntelegram:\n  unauthorized_dm_behavior: pair\n  allow_admin_from: \"1,2\"\n  group_user_allowed_commands:\n    - /Status\n    - model\n",
        );
        assert_eq!(c.allowed_users, vec!["7", "8"]);
        assert!(c.allow_all_users);
        assert_eq!(c.unauthorized_dm_behavior, UnauthorizedDmBehavior::Ignore);
        let t = c.platform(&Platform::Telegram);
        assert_eq!(t.allowed_users, vec!["1", "2"]);
        assert!(t.allow_all_users);
        assert_eq!(t.group_allowed_users, vec!["3"]);
        assert_eq!(t.group_allowed_chats, vec!["-100", "*"]);
        assert_eq!(t.allow_bots, AllowBots::All);
        assert_eq!(t.unauthorized_dm_behavior, Some(UnauthorizedDmBehavior::Pair));
        assert_eq!(t.slash.allow_admin_from, vec!["1", "2"]);
        assert_eq!(t.slash.group_user_allowed_commands, vec!["status", "model"]);
    }

    #[test]
    fn a_bad_behavior_value_is_a_clear_error() {
        let mut l = ConfigLoader::new();
        l.yaml("config.yaml", "unauthorized_dm_behavior: shout\n").unwrap();
        let err = l.build().unwrap_err().to_string();
        assert!(err.contains("unauthorized_dm_behavior") && err.contains("pair, ignore"), "{err}");
    }

    #[test]
    fn the_env_table_matches_the_registry_for_telegram() {
        let t = platform_access_env("telegram").unwrap();
        for (key, var) in [
            ("telegram.allowed_users", t.allowed_users),
            ("telegram.allow_all_users", t.allow_all_users),
            ("telegram.group_allowed_users", t.group_allowed_users.unwrap()),
            ("telegram.group_allowed_chats", t.group_allowed_chats.unwrap()),
            ("telegram.allow_bots", t.allow_bots.unwrap()),
        ] {
            assert_eq!(super::super::registry::find(key).unwrap().env, &[var], "{key}");
        }
        assert_eq!(platform_access_env("qqbot").unwrap().group_allowed_chats, Some("QQ_GROUP_ALLOWED_USERS"));
        assert!(platform_access_env("nowhere").is_none());
        for e in PLATFORM_ACCESS_ENV {
            assert!(Platform::parse(e.platform).is_ok(), "{}", e.platform);
        }
    }

    #[test]
    fn behavior_parse_is_hermes_lenient() {
        assert_eq!(UnauthorizedDmBehavior::parse(" IGNORE "), UnauthorizedDmBehavior::Ignore);
        assert_eq!(UnauthorizedDmBehavior::parse("pair"), UnauthorizedDmBehavior::Pair);
        assert_eq!(UnauthorizedDmBehavior::parse("whatever"), UnauthorizedDmBehavior::Pair);
    }
}
