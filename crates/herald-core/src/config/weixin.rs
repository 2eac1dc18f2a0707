//! The WeChat (iLink bot) part of the configuration: Hermes's `WEIXIN_*` variables
//! (hermes-gateway.md §1.4, §12) plus herald's CDN allowlist and route tag.
//!
//! The adapter reads the connection, sending and policy settings; the gateway's
//! admission reads the allowlists and policies through [`super::AccessConfig`], which is
//! filled from the same values so both agree.

use std::time::Duration;

use super::Values;
use super::access::AdapterPolicy;
use super::telegram::{has_usable_secret, split_list};

/// Accepted values of `weixin.dm_policy` and `weixin.group_policy`.
pub const POLICY_CHOICES: &[&str] = &["open", "allowlist", "disabled", "pairing"];

/// The iLink API base used when nothing else is configured.
pub const DEFAULT_BASE_URL: &str = "https://ilinkai.weixin.qq.com";
/// The media CDN base used when nothing else is configured.
pub const DEFAULT_CDN_BASE_URL: &str = "https://novac2c.cdn.weixin.qq.com/c2c";

/// Reads a policy word; unknown words cannot reach here (the registry checks them), so
/// the fallback only matters for code that builds values by hand.
pub fn parse_policy(raw: &str, fallback: AdapterPolicy) -> AdapterPolicy {
    match raw.trim().to_ascii_lowercase().as_str() {
        "open" => AdapterPolicy::Open,
        "allowlist" => AdapterPolicy::Allowlist,
        "disabled" => AdapterPolicy::Disabled,
        "pairing" => AdapterPolicy::Pairing,
        _ => fallback,
    }
}

/// The WeChat settings.
#[derive(Clone)]
pub struct WeixinConfig {
    /// `WEIXIN_TOKEN`, trimmed. Usually empty: the QR login stores the token in the
    /// account file and only `WEIXIN_ACCOUNT_ID` is set.
    pub token: Option<String>,
    /// `WEIXIN_ACCOUNT_ID`: the bot's `ilink_bot_id` (`…@im.bot`).
    pub account_id: Option<String>,
    /// iLink API base without a trailing `/`.
    pub base_url: String,
    /// Media CDN base without a trailing `/`.
    pub cdn_base_url: String,
    pub dm_policy: AdapterPolicy,
    pub group_policy: AdapterPolicy,
    /// `WEIXIN_ALLOWED_USERS`: sender ids for the `allowlist` DM policy and admission.
    pub allowed_users: Vec<String>,
    pub allow_all_users: bool,
    /// `WEIXIN_GROUP_ALLOWED_USERS`: despite the name, group chat ids (as Hermes).
    pub group_allowed_users: Vec<String>,
    /// Legacy per-line splitting instead of the compact default.
    pub split_multiline_messages: bool,
    /// Pause between the chunks of one answer.
    pub send_chunk_delay: Duration,
    /// Retries of one chunk after its first attempt.
    pub send_chunk_retries: u32,
    /// Base delay of the chunk retries (`delay × (attempt + 1)`).
    pub send_chunk_retry_delay: Duration,
    /// Rate-limit events within the window that open the send circuit.
    pub rate_limit_circuit_threshold: u32,
    pub rate_limit_circuit_window: Duration,
    /// How long an open circuit blocks sends.
    pub rate_limit_circuit_open: Duration,
    /// How long polling pauses after an expired session (`-14`).
    pub session_pause: Duration,
    /// Hosts inbound media may come from (every URL and every redirect); empty means
    /// the built-in list. The host of `cdn_base_url` is always allowed.
    pub cdn_allowed_hosts: Vec<String>,
    /// `SKRouteTag` header value, sent only when set.
    pub route_tag: Option<String>,
}

// Hand-written so that the token never reaches a log.
impl std::fmt::Debug for WeixinConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeixinConfig")
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("account_id", &self.account_id)
            .field("base_url", &self.base_url)
            .field("cdn_base_url", &self.cdn_base_url)
            .field("dm_policy", &self.dm_policy)
            .field("group_policy", &self.group_policy)
            .field("allowed_users", &self.allowed_users)
            .field("allow_all_users", &self.allow_all_users)
            .field("group_allowed_users", &self.group_allowed_users)
            .field("split_multiline_messages", &self.split_multiline_messages)
            .field("send_chunk_delay", &self.send_chunk_delay)
            .field("send_chunk_retries", &self.send_chunk_retries)
            .field("send_chunk_retry_delay", &self.send_chunk_retry_delay)
            .field("rate_limit_circuit_threshold", &self.rate_limit_circuit_threshold)
            .field("rate_limit_circuit_window", &self.rate_limit_circuit_window)
            .field("rate_limit_circuit_open", &self.rate_limit_circuit_open)
            .field("session_pause", &self.session_pause)
            .field("cdn_allowed_hosts", &self.cdn_allowed_hosts)
            .field("route_tag", &self.route_tag)
            .finish()
    }
}

fn seconds(v: &Values<'_>, key: &str, default: f64) -> Duration {
    Duration::from_secs_f64(v.float(key).unwrap_or(default).max(0.0))
}

fn url(v: &Values<'_>, key: &str, default: &str) -> String {
    v.text(key).unwrap_or_else(|| default.into()).trim().trim_end_matches('/').to_string()
}

impl WeixinConfig {
    pub(super) fn from_values(v: &Values<'_>) -> WeixinConfig {
        WeixinConfig {
            token: v.text("weixin.token").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
            account_id: v.text("weixin.account_id").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
            base_url: url(v, "weixin.base_url", DEFAULT_BASE_URL),
            cdn_base_url: url(v, "weixin.cdn_base_url", DEFAULT_CDN_BASE_URL),
            dm_policy: parse_policy(&v.text("weixin.dm_policy").unwrap_or_default(), AdapterPolicy::Pairing),
            group_policy: parse_policy(&v.text("weixin.group_policy").unwrap_or_default(), AdapterPolicy::Disabled),
            allowed_users: split_list(v.text("weixin.allowed_users")),
            allow_all_users: v.bool("weixin.allow_all_users"),
            group_allowed_users: split_list(v.text("weixin.group_allowed_users")),
            split_multiline_messages: v.bool("weixin.split_multiline_messages"),
            send_chunk_delay: seconds(v, "weixin.send_chunk_delay_seconds", 1.5),
            send_chunk_retries: v.uint("weixin.send_chunk_retries") as u32,
            send_chunk_retry_delay: seconds(v, "weixin.send_chunk_retry_delay_seconds", 1.0),
            rate_limit_circuit_threshold: v.uint("weixin.rate_limit_circuit_threshold") as u32,
            rate_limit_circuit_window: seconds(v, "weixin.rate_limit_circuit_window_seconds", 30.0),
            rate_limit_circuit_open: seconds(v, "weixin.rate_limit_circuit_open_seconds", 30.0),
            session_pause: seconds(v, "weixin.session_pause_seconds", 600.0),
            cdn_allowed_hosts: split_list(v.text("weixin.cdn_allowed_hosts"))
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            route_tag: v.text("weixin.route_tag").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        }
    }

    /// Whether WeChat is meant to be on: a token or an account id is set (Hermes's
    /// condition; with only the account id the token comes from the account file).
    pub fn enabled(&self) -> bool {
        self.token.is_some() || self.account_id.is_some()
    }

    /// The configured token when it is usable; `Err` says why not, without the token.
    pub fn usable_token(&self) -> Result<Option<&str>, String> {
        match self.token.as_deref() {
            None => Ok(None),
            Some(t) if !has_usable_secret(t, 4) => Err("WEIXIN_TOKEN looks like a placeholder (shorter than 4 \
                 characters or a sample value); run `herald login weixin` or unset it"
                .into()),
            Some(t) => Ok(Some(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ConfigLoader;
    use super::*;
    use crate::Platform;

    fn load(env: &[(&str, &str)]) -> super::super::Config {
        let mut l = ConfigLoader::new();
        l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.build().unwrap().config
    }

    #[test]
    fn defaults_match_hermes() {
        let c = load(&[]).weixin;
        assert!(!c.enabled());
        assert_eq!(c.base_url, "https://ilinkai.weixin.qq.com");
        assert_eq!(c.cdn_base_url, "https://novac2c.cdn.weixin.qq.com/c2c");
        assert_eq!(c.dm_policy, AdapterPolicy::Pairing);
        assert_eq!(c.group_policy, AdapterPolicy::Disabled);
        assert!(!c.split_multiline_messages);
        assert_eq!(c.send_chunk_delay, Duration::from_millis(1500));
        assert_eq!(c.send_chunk_retries, 4);
        assert_eq!(c.send_chunk_retry_delay, Duration::from_secs(1));
        assert_eq!(c.rate_limit_circuit_threshold, 1);
        assert_eq!(c.rate_limit_circuit_window, Duration::from_secs(30));
        assert_eq!(c.rate_limit_circuit_open, Duration::from_secs(30));
        assert!(c.cdn_allowed_hosts.is_empty());
        assert_eq!(c.route_tag, None);
    }

    #[test]
    fn env_names_as_hermes() {
        let config = load(&[
            ("WEIXIN_TOKEN", " b0f5860fdecb@im.bot:secret "),
            ("WEIXIN_ACCOUNT_ID", "b0f5860fdecb@im.bot"),
            ("WEIXIN_BASE_URL", "http://127.0.0.1:9/"),
            ("WEIXIN_CDN_BASE_URL", "http://127.0.0.1:9/c2c/"),
            ("WEIXIN_DM_POLICY", "Allowlist"),
            ("WEIXIN_GROUP_POLICY", "open"),
            ("WEIXIN_ALLOWED_USERS", "a@im.wechat, b@im.wechat"),
            ("WEIXIN_ALLOW_ALL_USERS", "yes"),
            ("WEIXIN_GROUP_ALLOWED_USERS", "g1@chatroom"),
            ("WEIXIN_SPLIT_MULTILINE_MESSAGES", "true"),
            ("WEIXIN_SEND_CHUNK_DELAY_SECONDS", "0"),
            ("WEIXIN_SEND_CHUNK_RETRIES", "2"),
            ("WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS", "0.25"),
            ("WEIXIN_RATE_LIMIT_CIRCUIT_THRESHOLD", "3"),
            ("WEIXIN_RATE_LIMIT_CIRCUIT_WINDOW_SECONDS", "10"),
            ("WEIXIN_RATE_LIMIT_CIRCUIT_OPEN_SECONDS", "5"),
            ("WEIXIN_CDN_ALLOWED_HOSTS", "CDN.example, 127.0.0.1"),
            ("WEIXIN_ROUTE_TAG", "1001"),
        ]);
        let c = &config.weixin;
        assert!(c.enabled());
        assert_eq!(c.usable_token().unwrap(), Some("b0f5860fdecb@im.bot:secret"));
        assert_eq!(c.account_id.as_deref(), Some("b0f5860fdecb@im.bot"));
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(c.cdn_base_url, "http://127.0.0.1:9/c2c");
        assert_eq!(c.dm_policy, AdapterPolicy::Allowlist);
        assert_eq!(c.group_policy, AdapterPolicy::Open);
        assert_eq!(c.allowed_users, vec!["a@im.wechat", "b@im.wechat"]);
        assert!(c.allow_all_users);
        assert_eq!(c.group_allowed_users, vec!["g1@chatroom"]);
        assert!(c.split_multiline_messages);
        assert_eq!(c.send_chunk_delay, Duration::ZERO);
        assert_eq!(c.send_chunk_retries, 2);
        assert_eq!(c.send_chunk_retry_delay, Duration::from_millis(250));
        assert_eq!(c.rate_limit_circuit_threshold, 3);
        assert_eq!(c.rate_limit_circuit_window, Duration::from_secs(10));
        assert_eq!(c.rate_limit_circuit_open, Duration::from_secs(5));
        assert_eq!(c.cdn_allowed_hosts, vec!["cdn.example", "127.0.0.1"]);
        assert_eq!(c.route_tag.as_deref(), Some("1001"));

        // Admission sees the same lists and policies.
        let a = config.access.platform(&Platform::Weixin);
        assert_eq!(a.allowed_users, c.allowed_users);
        assert!(a.allow_all_users);
        assert_eq!(a.group_allowed_chats, vec!["g1@chatroom"]);
        assert!(a.group_allowed_users.is_empty());
        assert_eq!(a.dm_policy, Some(AdapterPolicy::Allowlist));
        assert_eq!(a.group_policy, Some(AdapterPolicy::Open));
    }

    #[test]
    fn an_account_id_alone_enables_weixin() {
        let c = load(&[("WEIXIN_ACCOUNT_ID", "x@im.bot")]).weixin;
        assert!(c.enabled());
        assert_eq!(c.usable_token().unwrap(), None);
    }

    #[test]
    fn placeholder_tokens_are_refused_without_echoing_them() {
        for t in ["abc", "changeme", "xxxx"] {
            let c = load(&[("WEIXIN_TOKEN", t)]).weixin;
            let err = c.usable_token().unwrap_err();
            assert!(!err.contains(t), "{err}");
        }
        let c = load(&[("WEIXIN_TOKEN", "bot@im.bot:supersecret")]).weixin;
        let shown = format!("{c:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("(set)"), "{shown}");
    }

    #[test]
    fn invalid_values_are_reported() {
        let mut l = ConfigLoader::new();
        l.env([
            ("WEIXIN_DM_POLICY", "sometimes"),
            ("WEIXIN_SEND_CHUNK_DELAY_SECONDS", "-1"),
            ("WEIXIN_BASE_URL", "ftp://x"),
            ("WEIXIN_ROUTE_TAG", "abc"),
        ]);
        let err = l.build().unwrap_err().to_string();
        for var in ["WEIXIN_DM_POLICY", "WEIXIN_SEND_CHUNK_DELAY_SECONDS", "WEIXIN_BASE_URL", "WEIXIN_ROUTE_TAG"] {
            assert!(err.contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn the_access_env_table_matches_the_registry() {
        let e = super::super::access::platform_access_env("weixin").unwrap();
        assert_eq!(super::super::registry::find("weixin.allowed_users").unwrap().env, &[e.allowed_users]);
        assert_eq!(super::super::registry::find("weixin.allow_all_users").unwrap().env, &[e.allow_all_users]);
    }
}
