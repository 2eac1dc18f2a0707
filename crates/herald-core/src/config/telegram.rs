//! The Telegram part of the configuration (Hermes's `TELEGRAM_*` variables).
//!
//! The adapter reads the connection and group-gating settings; the gateway's admission
//! reads the allowlists from the same struct, so both agree on one parsed value.

use super::Values;

/// Accepted values of `telegram.allow_bots` (`TELEGRAM_ALLOW_BOTS`). Hermes admits bot
/// authors only for `mentions` or `all`; the other words are spelled out so that a
/// Hermes `.env` with `false` or `off` still loads.
pub const ALLOW_BOTS_CHOICES: &[&str] = &["none", "off", "false", "no", "mentions", "all"];

/// Whether messages written by other bots are admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowBots {
    None,
    /// Only when the bot message mentions this bot.
    Mentions,
    All,
}

/// Which parts of a multi-message answer are sent as replies to the user's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyToMode {
    Off,
    First,
    All,
}

/// Hermes's `has_usable_secret(min_length=4)` for bot tokens: a value shorter than that
/// (after trimming), or one of the usual placeholders, is treated as "not configured".
pub fn has_usable_secret(value: &str, min_length: usize) -> bool {
    let v = value.trim();
    if v.chars().count() < min_length {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "changeme" | "change_me" | "your_token_here" | "your-token-here" | "placeholder" | "none" | "null" | "xxxx"
    ) && !v.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

/// The Telegram settings.
#[derive(Clone)]
pub struct TelegramConfig {
    /// The bot token exactly as configured (trimmed). `None` when unset; see
    /// [`TelegramConfig::usable_token`].
    pub bot_token: Option<String>,
    /// Bot API base URL without a trailing `/`.
    pub api_base_url: String,
    pub allowed_users: Vec<String>,
    pub allow_all_users: bool,
    pub group_allowed_users: Vec<String>,
    pub group_allowed_chats: Vec<String>,
    pub allow_bots: AllowBots,
    pub home_channel: Option<String>,
    pub home_channel_name: String,
    pub home_channel_thread_id: Option<String>,
    /// Groups are mention-only (Hermes's default: off).
    pub require_mention: bool,
    /// Wake-word regular expressions, uncompiled (the adapter compiles them and reports
    /// the ones that do not compile).
    pub mention_patterns: Vec<String>,
    pub free_response_chats: Vec<String>,
    pub reply_to_mode: ReplyToMode,
    pub webhook_url: Option<String>,
    pub webhook_host: String,
    pub webhook_port: u16,
    pub webhook_secret: Option<String>,
    pub proxy: Option<String>,
}

// Hand-written so that the token and the webhook secret never reach a log.
impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &self.bot_token.as_ref().map(|_| "(set)"))
            .field("api_base_url", &self.api_base_url)
            .field("allowed_users", &self.allowed_users)
            .field("allow_all_users", &self.allow_all_users)
            .field("group_allowed_users", &self.group_allowed_users)
            .field("group_allowed_chats", &self.group_allowed_chats)
            .field("allow_bots", &self.allow_bots)
            .field("home_channel", &self.home_channel)
            .field("require_mention", &self.require_mention)
            .field("mention_patterns", &self.mention_patterns)
            .field("free_response_chats", &self.free_response_chats)
            .field("reply_to_mode", &self.reply_to_mode)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_host", &self.webhook_host)
            .field("webhook_port", &self.webhook_port)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "(set)"))
            .field("proxy", &self.proxy.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

/// Splits a comma-separated list, trimming and dropping empty parts.
pub fn split_list(raw: Option<String>) -> Vec<String> {
    raw.map(|s| s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()).unwrap_or_default()
}

/// Hermes's parsing of `TELEGRAM_MENTION_PATTERNS`: a JSON list of strings, else one
/// pattern per line, else comma-separated.
pub fn parse_mention_patterns(raw: Option<&str>) -> Vec<String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(raw) {
        return items
            .into_iter()
            .filter_map(|v| v.as_str().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect();
    }
    let lines: Vec<String> = raw.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if lines.len() > 1 {
        return lines;
    }
    split_list(Some(raw.to_string()))
}

impl TelegramConfig {
    pub(super) fn from_values(v: &Values<'_>) -> TelegramConfig {
        TelegramConfig {
            bot_token: v.text("telegram.bot_token").map(|t| t.trim().to_string()),
            api_base_url: v
                .text("telegram.api_base_url")
                .unwrap_or_else(|| "https://api.telegram.org".into())
                .trim_end_matches('/')
                .to_string(),
            allowed_users: split_list(v.text("telegram.allowed_users")),
            allow_all_users: v.bool("telegram.allow_all_users"),
            group_allowed_users: split_list(v.text("telegram.group_allowed_users")),
            group_allowed_chats: split_list(v.text("telegram.group_allowed_chats")),
            allow_bots: match v.text("telegram.allow_bots").unwrap_or_default().to_ascii_lowercase().as_str() {
                "mentions" => AllowBots::Mentions,
                "all" => AllowBots::All,
                _ => AllowBots::None,
            },
            home_channel: v.text("telegram.home_channel").filter(|s| !s.trim().is_empty()),
            home_channel_name: v.text("telegram.home_channel_name").unwrap_or_else(|| "Home".into()),
            home_channel_thread_id: v.text("telegram.home_channel_thread_id").filter(|s| !s.trim().is_empty()),
            require_mention: v.bool("telegram.require_mention"),
            mention_patterns: parse_mention_patterns(v.text("telegram.mention_patterns").as_deref()),
            free_response_chats: split_list(v.text("telegram.free_response_chats")),
            reply_to_mode: match v.text("telegram.reply_to_mode").unwrap_or_default().to_ascii_lowercase().as_str() {
                "off" => ReplyToMode::Off,
                "all" => ReplyToMode::All,
                _ => ReplyToMode::First,
            },
            webhook_url: v.text("telegram.webhook_url"),
            webhook_host: v.text("telegram.webhook_host").unwrap_or_else(|| "0.0.0.0".into()),
            webhook_port: v.uint("telegram.webhook_port") as u16,
            webhook_secret: v.text("telegram.webhook_secret").map(|s| s.trim().to_string()),
            proxy: v.text("telegram.proxy"),
        }
    }

    /// Whether a bot token is set at all (the platform is meant to be on).
    pub fn enabled(&self) -> bool {
        self.bot_token.is_some()
    }

    /// The token when it is usable; `Err` says why not, without the token.
    pub fn usable_token(&self) -> Result<&str, String> {
        match self.bot_token.as_deref() {
            None => Err("TELEGRAM_BOT_TOKEN is not set".into()),
            Some(t) if !has_usable_secret(t, 4) => {
                Err("TELEGRAM_BOT_TOKEN looks like a placeholder (shorter than 4 characters or a sample value); \
                 set the token @BotFather gave you"
                    .into())
            }
            Some(t) => Ok(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ConfigLoader;
    use super::*;

    fn load(env: &[(&str, &str)]) -> TelegramConfig {
        let mut l = ConfigLoader::new();
        l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.build().unwrap().config.telegram
    }

    #[test]
    fn defaults_match_hermes() {
        let c = load(&[]);
        assert!(!c.enabled());
        assert_eq!(c.api_base_url, "https://api.telegram.org");
        assert!(!c.require_mention);
        assert_eq!(c.reply_to_mode, ReplyToMode::First);
        assert_eq!(c.webhook_port, 8443);
        assert_eq!(c.home_channel_name, "Home");
        assert_eq!(c.allow_bots, AllowBots::None);
        assert!(c.allowed_users.is_empty());
    }

    #[test]
    fn env_names_as_hermes() {
        let c = load(&[
            ("TELEGRAM_BOT_TOKEN", " 123:abc "),
            ("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/"),
            ("TELEGRAM_ALLOWED_USERS", "1, 2,,3"),
            ("TELEGRAM_ALLOW_ALL_USERS", "yes"),
            ("TELEGRAM_GROUP_ALLOWED_CHATS", "*"),
            ("TELEGRAM_ALLOW_BOTS", "Mentions"),
            ("TELEGRAM_REQUIRE_MENTION", "true"),
            ("TELEGRAM_FREE_RESPONSE_CHATS", "-100"),
            ("TELEGRAM_REPLY_TO_MODE", "all"),
            ("TELEGRAM_WEBHOOK_PORT", "9443"),
            ("TELEGRAM_HOME_CHANNEL", "-1001"),
            ("TELEGRAM_HOME_CHANNEL_THREAD_ID", "17"),
        ]);
        assert_eq!(c.usable_token().unwrap(), "123:abc");
        assert_eq!(c.api_base_url, "http://127.0.0.1:9");
        assert_eq!(c.allowed_users, vec!["1", "2", "3"]);
        assert!(c.allow_all_users);
        assert_eq!(c.group_allowed_chats, vec!["*"]);
        assert_eq!(c.allow_bots, AllowBots::Mentions);
        assert!(c.require_mention);
        assert_eq!(c.free_response_chats, vec!["-100"]);
        assert_eq!(c.reply_to_mode, ReplyToMode::All);
        assert_eq!(c.webhook_port, 9443);
        assert_eq!(c.home_channel.as_deref(), Some("-1001"));
        assert_eq!(c.home_channel_thread_id.as_deref(), Some("17"));
    }

    #[test]
    fn placeholder_tokens_are_refused_without_echoing_them() {
        for t in ["abc", "xxxx", "changeme", "****"] {
            let c = load(&[("TELEGRAM_BOT_TOKEN", t)]);
            assert!(c.enabled());
            let err = c.usable_token().unwrap_err();
            assert!(!err.contains(t), "{err}");
        }
        assert!(format!("{:?}", load(&[("TELEGRAM_BOT_TOKEN", "123:secret")])).contains("(set)"));
        assert!(!format!("{:?}", load(&[("TELEGRAM_BOT_TOKEN", "123:secret")])).contains("secret\""));
    }

    #[test]
    fn mention_patterns_json_lines_or_commas() {
        assert_eq!(parse_mention_patterns(Some(r#"["^hey bot", "herald"]"#)), vec!["^hey bot", "herald"]);
        assert_eq!(parse_mention_patterns(Some("a,b\nc")), vec!["a,b", "c"]);
        assert_eq!(parse_mention_patterns(Some("a, b")), vec!["a", "b"]);
        assert!(parse_mention_patterns(Some("  ")).is_empty());
    }

    #[test]
    fn invalid_values_are_reported() {
        let mut l = ConfigLoader::new();
        l.env([("TELEGRAM_REPLY_TO_MODE", "sometimes"), ("TELEGRAM_WEBHOOK_PORT", "0")]);
        let err = l.build().unwrap_err().to_string();
        assert!(err.contains("TELEGRAM_REPLY_TO_MODE"), "{err}");
        assert!(err.contains("TELEGRAM_WEBHOOK_PORT"), "{err}");
    }
}
