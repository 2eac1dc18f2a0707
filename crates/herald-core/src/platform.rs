//! The platforms herald knows by name.
//!
//! The string values are Hermes's (`gateway/config.py::Platform`) because they appear in
//! session keys, file names and config keys that users carry over.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A chat platform, or a pseudo-platform such as the local terminal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Platform {
    Local,
    Telegram,
    Discord,
    Whatsapp,
    WhatsappCloud,
    Slack,
    Signal,
    Mattermost,
    Matrix,
    HomeAssistant,
    Email,
    Sms,
    Dingtalk,
    ApiServer,
    Webhook,
    MsgraphWebhook,
    Feishu,
    Wecom,
    WecomCallback,
    Weixin,
    Bluebubbles,
    Qqbot,
    Yuanbao,
    Relay,
    /// A platform provided by a plugin; the name is lower-case ASCII, digits and `_`.
    Plugin(String),
}

const BUILTIN: &[(Platform, &str)] = &[
    (Platform::Local, "local"),
    (Platform::Telegram, "telegram"),
    (Platform::Discord, "discord"),
    (Platform::Whatsapp, "whatsapp"),
    (Platform::WhatsappCloud, "whatsapp_cloud"),
    (Platform::Slack, "slack"),
    (Platform::Signal, "signal"),
    (Platform::Mattermost, "mattermost"),
    (Platform::Matrix, "matrix"),
    (Platform::HomeAssistant, "homeassistant"),
    (Platform::Email, "email"),
    (Platform::Sms, "sms"),
    (Platform::Dingtalk, "dingtalk"),
    (Platform::ApiServer, "api_server"),
    (Platform::Webhook, "webhook"),
    (Platform::MsgraphWebhook, "msgraph_webhook"),
    (Platform::Feishu, "feishu"),
    (Platform::Wecom, "wecom"),
    (Platform::WecomCallback, "wecom_callback"),
    (Platform::Weixin, "weixin"),
    (Platform::Bluebubbles, "bluebubbles"),
    (Platform::Qqbot, "qqbot"),
    (Platform::Yuanbao, "yuanbao"),
    (Platform::Relay, "relay"),
];

/// Why a string is not a platform name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a platform name: use lower-case letters, digits and `_` (for example `telegram`)")]
pub struct InvalidPlatform(pub String);

impl Platform {
    /// The canonical string value, as used in session keys.
    pub fn as_str(&self) -> &str {
        match self {
            Platform::Plugin(name) => name,
            builtin => {
                BUILTIN.iter().find(|(p, _)| p == builtin).map(|(_, s)| *s).expect("every builtin platform has a name")
            }
        }
    }

    /// Parses a platform name. Like Hermes, lookup lower-cases and trims the input; any
    /// other well-formed name is taken as a plugin platform.
    pub fn parse(input: &str) -> Result<Self, InvalidPlatform> {
        let value = input.trim().to_ascii_lowercase();
        if let Some((p, _)) = BUILTIN.iter().find(|(_, s)| *s == value) {
            return Ok(p.clone());
        }
        let well_formed = !value.is_empty()
            && value.len() <= 64
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if well_formed { Ok(Platform::Plugin(value)) } else { Err(InvalidPlatform(input.to_string())) }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.as_str().to_string()
    }
}

impl TryFrom<String> for Platform {
    type Error = InvalidPlatform;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Platform::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_builtin() {
        for (p, s) in BUILTIN {
            assert_eq!(p.as_str(), *s);
            assert_eq!(&Platform::parse(s).unwrap(), p);
        }
    }

    #[test]
    fn lookup_trims_and_lowercases() {
        assert_eq!(Platform::parse("  Telegram ").unwrap(), Platform::Telegram);
    }

    #[test]
    fn plugin_names_are_accepted_and_junk_is_not() {
        assert_eq!(Platform::parse("irc").unwrap(), Platform::Plugin("irc".into()));
        assert!(Platform::parse("").is_err());
        assert!(Platform::parse("a:b").is_err());
        assert!(Platform::parse("../x").is_err());
    }
}
