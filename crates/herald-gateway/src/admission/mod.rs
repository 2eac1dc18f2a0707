//! Admission: whether an inbound message reaches a session at all.
//!
//! Pure logic; the runner owns the I/O. Per message, in this order:
//!
//! 1. `dedup.seen(&inbound, now_ms)` ([`Dedup`]): `true` means a copy, drop it
//!    silently (after the store's `record_inbound`, which catches re-reads durably).
//! 2. `admission.check(&inbound, |platform, user| async { store.pairing_is_approved(..) })`
//!    gives a [`Decision`]:
//!    - [`Decision::Allow`]: go on to session resolution.
//!    - [`Decision::Pair`]: an unknown sender in a direct message on a platform that
//!      pairs. Call `store.pairing_request(platform, user_id, user_name, now)` and send
//!      [`pairing_reply`] of the answer, if any (a rate-limited user hears nothing).
//!    - [`Decision::Ignore`]: drop silently; the reason is for the log.
//!
//! The pairing store is asked only when Hermes's order reaches step 7, so allowlisted
//! and allow-all traffic never touches the database. A store error should be treated
//! as "not approved" (fail closed).
//!
//! Texts are Hermes's, with one deliberate difference: the pairing message names
//! `herald pairing approve` where Hermes says `hermes pairing approve`, because the
//! operator of a herald gateway has no `hermes` command to run.

pub mod authz;
pub mod dedup;

use std::future::Future;

use herald_core::config::{AccessConfig, UnauthorizedDmBehavior};
use herald_core::{ChatType, Inbound, Platform};
use herald_store::PairingRequest;

pub use dedup::{Dedup, DedupConfig};

/// Sent when a pairing code could not be issued (too many pending, or locked out).
pub const PAIRING_UNAVAILABLE_TEXT: &str = "Too many pairing requests right now~ Please try again later!";

/// The message that carries a fresh pairing code.
pub fn pairing_code_text(platform: &Platform, code: &str) -> String {
    format!(
        "Hi~ I don't recognize you yet!\n\nHere's your pairing code: `{code}`\n\n\
         Ask the bot owner to run:\n`herald pairing approve {platform} {code}`"
    )
}

/// What to send for the store's answer to a pairing request; `None` means stay silent.
pub fn pairing_reply(platform: &Platform, answer: &PairingRequest) -> Option<String> {
    match answer {
        PairingRequest::Code(code) => Some(pairing_code_text(platform, code)),
        PairingRequest::RateLimited => None,
        PairingRequest::Unavailable => Some(PAIRING_UNAVAILABLE_TEXT.to_string()),
    }
}

/// Why a message is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Not authorized in a group, forum, channel or thread: groups never get codes.
    NotAuthorizedInGroup,
    /// Not authorized in a direct message and the platform's behaviour is `ignore`.
    UnauthorizedDmIgnored,
    /// Not authorized and there is no user id to pair.
    NoUserId,
}

/// What the runner does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Offer a pairing code (see the module docs).
    Pair,
    Ignore(IgnoreReason),
}

/// Authorization for every platform, from one [`AccessConfig`].
#[derive(Debug, Clone)]
pub struct Admission {
    access: AccessConfig,
}

impl Admission {
    pub fn new(access: AccessConfig) -> Self {
        Admission { access }
    }

    pub fn access(&self) -> &AccessConfig {
        &self.access
    }

    /// Decides about `inbound`. `is_approved(platform, user_id)` asks the pairing store
    /// and is called at most once, only when Hermes's order gets that far.
    pub async fn check<F, Fut>(&self, inbound: &Inbound, is_approved: F) -> Decision
    where
        F: FnOnce(Platform, String) -> Fut,
        Fut: Future<Output = bool>,
    {
        let source = &inbound.source;
        let authorized = match authz::before_pairing(&self.access, source, inbound.from_bot) {
            Some(answer) => answer,
            None => {
                let user = source.user_id.clone().unwrap_or_default();
                is_approved(source.platform.clone(), user).await || authz::after_pairing(&self.access, source)
            }
        };
        if authorized { Decision::Allow } else { self.unauthorized(inbound) }
    }

    /// [`Admission::check`] with a synchronous approval lookup (tests, cached lookups).
    pub fn check_sync(&self, inbound: &Inbound, is_approved: impl FnOnce(&Platform, &str) -> bool) -> Decision {
        if authz::authorize(&self.access, &inbound.source, inbound.from_bot, is_approved) {
            Decision::Allow
        } else {
            self.unauthorized(inbound)
        }
    }

    fn unauthorized(&self, inbound: &Inbound) -> Decision {
        let source = &inbound.source;
        if source.chat_type != ChatType::Dm {
            return Decision::Ignore(IgnoreReason::NotAuthorizedInGroup);
        }
        if source.user_id.as_deref().is_none_or(str::is_empty) {
            return Decision::Ignore(IgnoreReason::NoUserId);
        }
        match authz::unauthorized_dm_behavior(&self.access, &source.platform) {
            UnauthorizedDmBehavior::Pair => Decision::Pair,
            UnauthorizedDmBehavior::Ignore => Decision::Ignore(IgnoreReason::UnauthorizedDmIgnored),
        }
    }
}

#[cfg(test)]
mod tests {
    use herald_core::Source;
    use herald_core::config::ConfigLoader;

    use super::*;

    fn admission(env: &[(&str, &str)]) -> Admission {
        let mut l = ConfigLoader::new();
        l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Admission::new(l.build().unwrap().config.access)
    }

    fn inbound(chat_type: ChatType, user: Option<&str>) -> Inbound {
        let mut source = Source::dm(Platform::Telegram, "42");
        source.chat_type = chat_type;
        source.user_id = user.map(str::to_string);
        Inbound {
            source,
            message_id: Some("1".into()),
            text: "hi".into(),
            media: Vec::new(),
            reply_to: None,
            timestamp_ms: 0,
            from_bot: false,
        }
    }

    #[test]
    fn hermes_texts() {
        assert_eq!(
            pairing_code_text(&Platform::Telegram, "ABCD2345"),
            "Hi~ I don't recognize you yet!\n\nHere's your pairing code: `ABCD2345`\n\nAsk the bot owner to run:\n`herald pairing approve telegram ABCD2345`"
        );
        let t = Platform::Telegram;
        assert_eq!(pairing_reply(&t, &PairingRequest::RateLimited), None);
        assert_eq!(
            pairing_reply(&t, &PairingRequest::Unavailable).as_deref(),
            Some("Too many pairing requests right now~ Please try again later!")
        );
        assert!(pairing_reply(&t, &PairingRequest::Code("X".into())).unwrap().contains("`X`"));
    }

    #[test]
    fn unknown_dm_pairs_unknown_group_is_ignored() {
        let a = admission(&[]);
        assert_eq!(a.check_sync(&inbound(ChatType::Dm, Some("7")), |_, _| false), Decision::Pair);
        assert_eq!(
            a.check_sync(&inbound(ChatType::Group, Some("7")), |_, _| false),
            Decision::Ignore(IgnoreReason::NotAuthorizedInGroup)
        );
        assert_eq!(a.check_sync(&inbound(ChatType::Dm, None), |_, _| false), Decision::Ignore(IgnoreReason::NoUserId));
        assert_eq!(a.check_sync(&inbound(ChatType::Dm, Some("7")), |_, _| true), Decision::Allow);
    }

    #[test]
    fn allowlist_makes_strangers_silent() {
        let a = admission(&[("TELEGRAM_ALLOWED_USERS", "1")]);
        assert_eq!(a.check_sync(&inbound(ChatType::Dm, Some("1")), |_, _| false), Decision::Allow);
        assert_eq!(
            a.check_sync(&inbound(ChatType::Dm, Some("7")), |_, _| false),
            Decision::Ignore(IgnoreReason::UnauthorizedDmIgnored)
        );
    }

    #[tokio::test]
    async fn async_check_asks_the_store_only_at_step_seven() {
        let a = admission(&[]);
        let d =
            a.check(&inbound(ChatType::Dm, Some("7")), |p, u| async move { p == Platform::Telegram && u == "7" }).await;
        assert_eq!(d, Decision::Allow);
        let a = admission(&[("TELEGRAM_ALLOW_ALL_USERS", "true")]);
        let d = a.check(&inbound(ChatType::Dm, Some("7")), |_, _| async { panic!("not asked") }).await;
        assert_eq!(d, Decision::Allow);
        let a = admission(&[]);
        assert_eq!(a.check(&inbound(ChatType::Dm, Some("7")), |_, _| async { false }).await, Decision::Pair);
    }
}
