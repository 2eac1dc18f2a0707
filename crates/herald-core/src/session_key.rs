//! Session keys, built exactly like Hermes's `build_session_key` (gateway/session.py).
//!
//! The key decides which conversation a message joins, so it must match Hermes
//! byte for byte: users migrating keep their sessions, and tests pin the exact strings.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ChatType, Source};

/// The routing key of a conversation, for example `agent:main:telegram:dm:99`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

impl SessionKey {
    /// Wraps an existing key, refusing the path-like forms Hermes refuses.
    pub fn parse(key: &str) -> Result<Self, UnsafeSessionKey> {
        if key.is_empty() || is_session_key_unsafe(key) {
            return Err(UnsafeSessionKey(key.to_string()));
        }
        Ok(SessionKey(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session key that could escape a directory or name an absolute path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "session key `{0}` is not allowed: it must not be empty, contain `..`, or start with `/`, `\\` or a drive letter"
)]
pub struct UnsafeSessionKey(pub String);

/// The isolation policy that shapes non-DM keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKeyPolicy {
    /// Each participant in a group gets their own session (Hermes default: true).
    pub group_sessions_per_user: bool,
    /// Each participant in a thread gets their own session (Hermes default: false).
    pub thread_sessions_per_user: bool,
    /// Whether profiles multiplex into separate namespaces (Hermes `multiplex_profiles`).
    pub multiplex_profiles: bool,
}

impl Default for SessionKeyPolicy {
    fn default() -> Self {
        SessionKeyPolicy { group_sessions_per_user: true, thread_sessions_per_user: false, multiplex_profiles: false }
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Builds the session key for a message source.
///
/// `active_profile` is used when the source carries no profile and multiplexing is on.
pub fn build_session_key(source: &Source, policy: SessionKeyPolicy, active_profile: Option<&str>) -> SessionKey {
    let profile = if policy.multiplex_profiles { non_empty(&source.profile).or(active_profile) } else { None };
    let ns = match profile {
        None | Some("") | Some("default") => "agent:main".to_string(),
        Some(p) => format!("agent:{p}"),
    };
    let platform = source.platform.as_str();
    let participant = non_empty(&source.user_id_alt).or(non_empty(&source.user_id));
    let thread = non_empty(&source.thread_id);

    let key = if source.chat_type == ChatType::Dm {
        if let Some(chat) = non_empty(&source.chat_id) {
            match thread {
                Some(t) => format!("{ns}:{platform}:dm:{chat}:{t}"),
                None => format!("{ns}:{platform}:dm:{chat}"),
            }
        } else if let Some(p) = participant {
            match thread {
                Some(t) => format!("{ns}:{platform}:dm:{p}:{t}"),
                None => format!("{ns}:{platform}:dm:{p}"),
            }
        } else if let Some(t) = thread {
            format!("{ns}:{platform}:dm:{t}")
        } else {
            format!("{ns}:{platform}:dm")
        }
    } else {
        let mut parts = vec![ns, platform.to_string(), source.chat_type.as_str().to_string()];
        if let Some(chat) = non_empty(&source.chat_id) {
            parts.push(chat.to_string());
        }
        if let Some(t) = thread {
            parts.push(t.to_string());
        }
        let isolate = policy.group_sessions_per_user && (thread.is_none() || policy.thread_sessions_per_user);
        if let (true, Some(p)) = (isolate, participant) {
            parts.push(p.to_string());
        }
        parts.join(":")
    };
    SessionKey(key)
}

fn starts_with_drive(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Hermes `_is_path_unsafe`: for session ids and file names.
pub fn is_path_unsafe(s: &str) -> bool {
    s.contains("..") || s.contains('/') || s.contains('\\') || starts_with_drive(s)
}

/// Hermes `_is_session_key_unsafe`: like [`is_path_unsafe`] but interior `/` is allowed
/// (Google Chat keys contain `spaces/…`).
pub fn is_session_key_unsafe(s: &str) -> bool {
    s.contains("..") || s.starts_with('/') || s.starts_with('\\') || starts_with_drive(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Platform;

    fn src(
        platform: Platform,
        chat_type: ChatType,
        chat: Option<&str>,
        user: Option<&str>,
        thread: Option<&str>,
    ) -> Source {
        Source {
            platform,
            chat_type,
            chat_id: chat.map(Into::into),
            chat_name: None,
            user_id: user.map(Into::into),
            user_name: None,
            thread_id: thread.map(Into::into),
            user_id_alt: None,
            profile: None,
        }
    }

    fn key(s: &Source) -> String {
        build_session_key(s, SessionKeyPolicy::default(), None).to_string()
    }

    // The acceptance checks of the Hermes digest, §15.1 items 1–7.
    #[test]
    fn dm_keys() {
        assert_eq!(key(&src(Platform::Telegram, ChatType::Dm, Some("99"), None, None)), "agent:main:telegram:dm:99");
        assert_eq!(
            key(&src(Platform::Telegram, ChatType::Dm, Some("99"), Some("42"), Some("topic-1"))),
            "agent:main:telegram:dm:99:topic-1"
        );
        let mut alt = src(Platform::Telegram, ChatType::Dm, Some(""), Some("primary"), None);
        alt.user_id_alt = Some("alt".into());
        assert_eq!(key(&alt), "agent:main:telegram:dm:alt");
        assert_eq!(key(&src(Platform::Telegram, ChatType::Dm, None, None, None)), "agent:main:telegram:dm");
        assert_eq!(key(&src(Platform::Telegram, ChatType::Dm, None, None, Some("7"))), "agent:main:telegram:dm:7");
    }

    #[test]
    fn group_keys_follow_isolation() {
        let a = src(Platform::Discord, ChatType::Group, Some("guild-123"), Some("alice"), None);
        let b = src(Platform::Discord, ChatType::Group, Some("guild-123"), Some("bob"), None);
        assert_eq!(key(&a), "agent:main:discord:group:guild-123:alice");
        assert_eq!(key(&b), "agent:main:discord:group:guild-123:bob");
        let shared = SessionKeyPolicy { group_sessions_per_user: false, ..Default::default() };
        assert_eq!(build_session_key(&a, shared, None).as_str(), "agent:main:discord:group:guild-123");
        assert_eq!(build_session_key(&b, shared, None).as_str(), "agent:main:discord:group:guild-123");
    }

    #[test]
    fn thread_keys() {
        let t = src(Platform::Discord, ChatType::Thread, Some("111"), Some("42"), Some("111"));
        assert_eq!(key(&t), "agent:main:discord:thread:111:111");
        let per_user = SessionKeyPolicy { thread_sessions_per_user: true, ..Default::default() };
        assert_eq!(build_session_key(&t, per_user, None).as_str(), "agent:main:discord:thread:111:111:42");
        for user in ["alice", "bob"] {
            let g = src(Platform::Telegram, ChatType::Group, Some("-1002285219667"), Some(user), Some("17585"));
            assert_eq!(key(&g), "agent:main:telegram:group:-1002285219667:17585");
        }
        let f = src(Platform::Telegram, ChatType::Forum, Some("-100123"), None, Some("5"));
        assert_eq!(key(&f), "agent:main:telegram:forum:-100123:5");
    }

    #[test]
    fn profiles_and_qq() {
        let policy = SessionKeyPolicy { multiplex_profiles: true, ..Default::default() };
        let mut w = src(Platform::Weixin, ChatType::Dm, Some("wxid_a"), None, None);
        w.profile = Some("coder".into());
        assert_eq!(build_session_key(&w, policy, None).as_str(), "agent:coder:weixin:dm:wxid_a");
        w.profile = Some("default".into());
        assert_eq!(build_session_key(&w, policy, None).as_str(), "agent:main:weixin:dm:wxid_a");
        let q = src(Platform::Qqbot, ChatType::Group, Some("G1"), Some("M1"), None);
        assert_eq!(key(&q), "agent:main:qqbot:group:G1:M1");
    }

    #[test]
    fn path_guards() {
        for bad in ["../x", "a/b", "C:x"] {
            assert!(is_path_unsafe(bad), "{bad}");
        }
        assert!(!is_path_unsafe("20260101_120000_abcdef01"));
        assert!(SessionKey::parse("agent:main:google_chat:group:spaces/AAA").is_ok());
        for bad in ["", "/etc", "\\x", "C:\\x", "agent:..:x"] {
            assert!(SessionKey::parse(bad).is_err(), "{bad}");
        }
    }
}
