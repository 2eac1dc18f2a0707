//! Authorization in Hermes's order (`gateway/authz_mixin.py::_is_user_authorized`,
//! reference §4.1) and the unauthorized-DM behaviour (§4.2).
//!
//! Split around the pairing lookup (step 7) because that one asks the store: the
//! steps before it may decide without I/O, the steps after it never need it.

use herald_core::config::{AccessConfig, AdapterPolicy, AllowBots, PlatformAccess, UnauthorizedDmBehavior};
use herald_core::{ChatType, Platform, Source};

/// Group-shaped chats for the chat-id allowlist (Hermes: group, forum, channel).
fn is_group_like(t: ChatType) -> bool {
    matches!(t, ChatType::Group | ChatType::Forum | ChatType::Channel)
}

/// Chats where the group-scoped lists apply (Hermes: group, forum).
fn is_group_or_forum(t: ChatType) -> bool {
    matches!(t, ChatType::Group | ChatType::Forum)
}

fn listed(list: &[String], id: &str) -> bool {
    list.iter().any(|v| v == "*" || v == id)
}

/// Steps 1 to 6: `Some(answer)` when they decide, `None` to go on to the pairing
/// lookup (the source then has a user id).
pub fn before_pairing(access: &AccessConfig, source: &Source, from_bot: bool) -> Option<bool> {
    // 1. System platforms authenticate at the transport.
    if matches!(source.platform, Platform::HomeAssistant | Platform::Webhook) {
        return Some(true);
    }
    let p = access.platform(&source.platform);
    // 2. Whole group chats by id, even without a sender (anonymous admins, channels).
    if is_group_like(source.chat_type)
        && let Some(chat) = source.chat_id.as_deref()
        && listed(&p.group_allowed_chats, chat)
    {
        return Some(true);
    }
    // 3. Bot authors admitted by <P>_ALLOW_BOTS (the adapter enforces "mentions").
    if from_bot && matches!(p.allow_bots, AllowBots::Mentions | AllowBots::All) {
        return Some(true);
    }
    // 4. Nobody to check.
    if source.user_id.as_deref().is_none_or(str::is_empty) {
        return Some(false);
    }
    // 5. Per-platform allow-all. (6, Discord's role_authorized, has no herald adapter yet.)
    if p.allow_all_users {
        return Some(true);
    }
    None
}

/// Steps 8 and 9, for a sender with a user id the pairing store did not approve.
pub fn after_pairing(access: &AccessConfig, source: &Source) -> bool {
    let Some(user_id) = source.user_id.as_deref() else { return false };
    let p = access.platform(&source.platform);
    let grouped = is_group_or_forum(source.chat_type);
    let group_users: &[String] = if grouped { &p.group_allowed_users } else { &[] };
    let group_chats: &[String] = if grouped { &p.group_allowed_chats } else { &[] };
    // 8. No allowlist anywhere: trust an adapter whose own policy is an allowlist,
    //    else only the global allow-all.
    if p.allowed_users.is_empty() && group_users.is_empty() && group_chats.is_empty() && access.allowed_users.is_empty()
    {
        let policy = if is_group_like(source.chat_type) { p.group_policy } else { p.dm_policy };
        if policy == Some(AdapterPolicy::Allowlist) {
            return true;
        }
        return access.allow_all_users;
    }
    // 9a. Group traffic by chat id, and chat-id-shaped legacy values in the Telegram
    //     group-user list.
    if let Some(chat) = source.chat_id.as_deref().filter(|_| grouped) {
        if listed(group_chats, chat) {
            return true;
        }
        if source.platform == Platform::Telegram && group_users.iter().any(|v| v.starts_with('-') && v == chat) {
            return true;
        }
    }
    // 9b. The union of the platform, group-user and global lists; `*` anywhere.
    let all = p.allowed_users.iter().chain(group_users).chain(&access.allowed_users);
    let local = user_id.split('@').next().unwrap_or(user_id);
    all.clone().any(|v| v == "*") || all.clone().any(|v| v == user_id || v == local)
}

/// The whole check; `is_approved(platform, user_id)` is the pairing store.
pub fn authorize(
    access: &AccessConfig,
    source: &Source,
    from_bot: bool,
    is_approved: impl FnOnce(&Platform, &str) -> bool,
) -> bool {
    if let Some(answer) = before_pairing(access, source, from_bot) {
        return answer;
    }
    if is_approved(&source.platform, source.user_id.as_deref().unwrap_or_default()) {
        return true;
    }
    after_pairing(access, source)
}

fn has_platform_allowlist(p: &PlatformAccess, access: &AccessConfig) -> bool {
    !p.allowed_users.is_empty()
        || !p.group_allowed_users.is_empty()
        || !p.group_allowed_chats.is_empty()
        || !access.allowed_users.is_empty()
}

/// What an unauthorized direct message on `platform` gets (§4.2).
pub fn unauthorized_dm_behavior(access: &AccessConfig, platform: &Platform) -> UnauthorizedDmBehavior {
    let p = access.platform(platform);
    if let Some(explicit) = p.unauthorized_dm_behavior {
        return explicit;
    }
    // An inbox holds mail from anyone; codes only on explicit opt-in.
    if *platform == Platform::Email {
        return UnauthorizedDmBehavior::Ignore;
    }
    if access.unauthorized_dm_behavior != UnauthorizedDmBehavior::Pair {
        return access.unauthorized_dm_behavior;
    }
    match p.dm_policy {
        Some(AdapterPolicy::Pairing) => return UnauthorizedDmBehavior::Pair,
        Some(AdapterPolicy::Allowlist | AdapterPolicy::Disabled) => return UnauthorizedDmBehavior::Ignore,
        _ => {}
    }
    // An allowlist says the owner restricted access on purpose: no codes to strangers.
    if has_platform_allowlist(p, access) {
        return UnauthorizedDmBehavior::Ignore;
    }
    UnauthorizedDmBehavior::Pair
}

#[cfg(test)]
mod tests {
    use herald_core::config::ConfigLoader;

    use super::*;

    fn access(env: &[(&str, &str)]) -> AccessConfig {
        let mut l = ConfigLoader::new();
        l.env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.build().unwrap().config.access
    }

    fn src(platform: Platform, chat_type: ChatType, chat: Option<&str>, user: Option<&str>) -> Source {
        let mut s = Source::dm(platform, "x");
        s.chat_type = chat_type;
        s.chat_id = chat.map(str::to_string);
        s.user_id = user.map(str::to_string);
        s
    }

    fn dm(user: &str) -> Source {
        src(Platform::Telegram, ChatType::Dm, Some(user), Some(user))
    }

    fn group(chat: &str, user: Option<&str>) -> Source {
        src(Platform::Telegram, ChatType::Group, Some(chat), user)
    }

    fn ok(a: &AccessConfig, s: &Source) -> bool {
        authorize(a, s, false, |_, _| false)
    }

    #[test]
    fn nothing_configured_denies_unless_global_allow_all() {
        assert!(!ok(&access(&[]), &dm("1")));
        assert!(ok(&access(&[("GATEWAY_ALLOW_ALL_USERS", "true")]), &dm("1")));
        // Global allow-all is ignored once any allowlist exists (Hermes's order).
        let a = access(&[("GATEWAY_ALLOW_ALL_USERS", "true"), ("TELEGRAM_ALLOWED_USERS", "2")]);
        assert!(!ok(&a, &dm("1")));
        assert!(ok(&a, &dm("2")));
    }

    #[test]
    fn system_platforms_and_platform_allow_all() {
        let a = access(&[]);
        assert!(ok(&a, &src(Platform::Webhook, ChatType::Dm, None, None)));
        assert!(ok(&a, &src(Platform::HomeAssistant, ChatType::Dm, None, None)));
        let a = access(&[("TELEGRAM_ALLOW_ALL_USERS", "yes")]);
        assert!(ok(&a, &dm("9")));
        // ...but a message with no sender is still refused.
        assert!(!ok(&a, &src(Platform::Telegram, ChatType::Dm, Some("9"), None)));
    }

    #[test]
    fn allowlists_union_wildcard_and_local_part() {
        let a = access(&[("TELEGRAM_ALLOWED_USERS", "1"), ("GATEWAY_ALLOWED_USERS", "alice")]);
        assert!(ok(&a, &dm("1")));
        assert!(ok(&a, &src(Platform::Telegram, ChatType::Dm, Some("c"), Some("alice@example.org"))));
        assert!(!ok(&a, &dm("2")));
        // The global list counts on every platform.
        assert!(ok(&a, &src(Platform::Discord, ChatType::Dm, Some("c"), Some("alice"))));
        assert!(ok(&access(&[("GATEWAY_ALLOWED_USERS", "*")]), &dm("anyone")));
    }

    #[test]
    fn group_chats_and_group_users() {
        let a = access(&[("TELEGRAM_GROUP_ALLOWED_CHATS", "-100")]);
        // Chat-wide, even with no sender.
        assert!(ok(&a, &group("-100", None)));
        assert!(ok(&a, &group("-100", Some("5"))));
        assert!(!ok(&a, &group("-200", Some("5"))));
        let a = access(&[("TELEGRAM_GROUP_ALLOWED_CHATS", "*")]);
        assert!(ok(&a, &group("-300", None)));
        // The group-user list counts in groups, not in direct messages.
        let a = access(&[("TELEGRAM_GROUP_ALLOWED_USERS", "5")]);
        assert!(ok(&a, &group("-100", Some("5"))));
        assert!(!ok(&a, &dm("5")));
        // Legacy chat ids in the group-user list admit that group.
        let a = access(&[("TELEGRAM_GROUP_ALLOWED_USERS", "-100,5")]);
        assert!(ok(&a, &group("-100", Some("6"))));
        assert!(!ok(&a, &group("-101", Some("6"))));
    }

    #[test]
    fn bots_need_allow_bots() {
        let s = group("-1", Some("77"));
        assert!(!authorize(&access(&[]), &s, true, |_, _| false));
        assert!(authorize(&access(&[("TELEGRAM_ALLOW_BOTS", "mentions")]), &s, true, |_, _| false));
        assert!(authorize(&access(&[("TELEGRAM_ALLOW_BOTS", "all")]), &s, true, |_, _| false));
    }

    #[test]
    fn pairing_approval_admits_and_is_asked_only_when_needed() {
        let a = access(&[("TELEGRAM_ALLOWED_USERS", "1")]);
        let mut asked = Vec::new();
        assert!(authorize(&a, &dm("2"), false, |p, u| {
            asked.push((p.clone(), u.to_string()));
            true
        }));
        assert_eq!(asked, vec![(Platform::Telegram, "2".to_string())]);
        // Decided before step 7: never asked.
        assert!(authorize(&access(&[("TELEGRAM_ALLOW_ALL_USERS", "1")]), &dm("2"), false, |_, _| panic!()));
        assert!(!authorize(&a, &src(Platform::Telegram, ChatType::Dm, Some("c"), None), false, |_, _| panic!()));
    }

    #[test]
    fn adapter_allowlist_policy_is_trusted_only_without_env_lists() {
        let mut a = access(&[]);
        let mut p = PlatformAccess { dm_policy: Some(AdapterPolicy::Allowlist), ..PlatformAccess::default() };
        a.platforms.insert(Platform::Weixin, p.clone());
        let s = src(Platform::Weixin, ChatType::Dm, Some("w"), Some("w"));
        assert!(ok(&a, &s));
        p.dm_policy = Some(AdapterPolicy::Open);
        a.platforms.insert(Platform::Weixin, p);
        assert!(!ok(&a, &s));
    }

    #[test]
    fn unauthorized_dm_behavior_resolution() {
        use UnauthorizedDmBehavior::*;
        let t = Platform::Telegram;
        // No allowlist: pairing (acceptance §15.1 19).
        assert_eq!(unauthorized_dm_behavior(&access(&[]), &t), Pair);
        // An allowlist: silence.
        assert_eq!(unauthorized_dm_behavior(&access(&[("TELEGRAM_ALLOWED_USERS", "1")]), &t), Ignore);
        assert_eq!(unauthorized_dm_behavior(&access(&[("TELEGRAM_GROUP_ALLOWED_CHATS", "-1")]), &t), Ignore);
        assert_eq!(unauthorized_dm_behavior(&access(&[("GATEWAY_ALLOWED_USERS", "1")]), &t), Ignore);
        // Email ignores by default.
        assert_eq!(unauthorized_dm_behavior(&access(&[]), &Platform::Email), Ignore);
        // Explicit per-platform wins over everything, global non-default over the rest.
        let mut a = access(&[("TELEGRAM_ALLOWED_USERS", "1")]);
        a.platforms.get_mut(&t).unwrap().unauthorized_dm_behavior = Some(Pair);
        assert_eq!(unauthorized_dm_behavior(&a, &t), Pair);
        let mut a = access(&[]);
        a.unauthorized_dm_behavior = Ignore;
        assert_eq!(unauthorized_dm_behavior(&a, &t), Ignore);
        let mut a = access(&[]);
        a.platforms.insert(
            Platform::Email,
            PlatformAccess { unauthorized_dm_behavior: Some(Pair), ..PlatformAccess::default() },
        );
        assert_eq!(unauthorized_dm_behavior(&a, &Platform::Email), Pair);
        // An adapter's own DM policy.
        let mut a = access(&[("GATEWAY_ALLOWED_USERS", "1")]);
        a.platforms
            .insert(Platform::Qqbot, PlatformAccess { dm_policy: Some(AdapterPolicy::Pairing), ..Default::default() });
        assert_eq!(unauthorized_dm_behavior(&a, &Platform::Qqbot), Pair);
    }
}
