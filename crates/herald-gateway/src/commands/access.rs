//! Slash-command access tiers (Hermes's `gateway/slash_access.py`, reference §4.4).
//!
//! Per platform and scope (direct messages, or groups for every other chat type) an
//! admin list turns gating on. Admins run everything; everyone else runs the scope's
//! `user_allowed_commands` (in direct messages, the group list when the DM list is
//! empty; admins are not shared across scopes) plus `help` and `whoami`, which are
//! always allowed. With an empty admin list everyone runs everything.

use herald_core::config::{AccessConfig, SlashAccessConfig};
use herald_core::{ChatType, Source};

/// Commands every user may run, even under gating.
pub const ALWAYS_ALLOWED: &[&str] = &["help", "whoami"];

/// Where a command is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Dm,
    Group,
}

impl Scope {
    pub fn of(chat_type: ChatType) -> Scope {
        if chat_type == ChatType::Dm { Scope::Dm } else { Scope::Group }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Dm => "dm",
            Scope::Group => "group",
        }
    }
}

/// What a user may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tier {
    /// Gating is off in this scope: everything.
    Unrestricted,
    /// Listed in the scope's admin list: everything.
    Admin,
    /// Only these canonical command names (always including `help` and `whoami`),
    /// sorted.
    User { allowed: Vec<String> },
}

impl Tier {
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Unrestricted => "unrestricted",
            Tier::Admin => "admin",
            Tier::User { .. } => "user",
        }
    }

    /// Whether a command with this canonical name may run.
    pub fn allows(&self, command: &str) -> bool {
        match self {
            Tier::Unrestricted | Tier::Admin => true,
            Tier::User { allowed } => allowed.iter().any(|c| c == command),
        }
    }

    /// The names a catalog (`/help`, `/commands`) should be limited to; `None` = all.
    pub fn catalog(&self) -> Option<&[String]> {
        match self {
            Tier::User { allowed } => Some(allowed),
            _ => None,
        }
    }
}

fn scope_lists(slash: &SlashAccessConfig, scope: Scope) -> (&[String], &[String]) {
    match scope {
        Scope::Dm => {
            let users = if slash.user_allowed_commands.is_empty() {
                &slash.group_user_allowed_commands
            } else {
                &slash.user_allowed_commands
            };
            (&slash.allow_admin_from, users)
        }
        Scope::Group => (&slash.group_allow_admin_from, &slash.group_user_allowed_commands),
    }
}

/// The tier of the sender of a message from `source`.
pub fn tier(access: &AccessConfig, source: &Source) -> Tier {
    let slash = &access.platform(&source.platform).slash;
    let (admins, users) = scope_lists(slash, Scope::of(source.chat_type));
    if admins.is_empty() {
        return Tier::Unrestricted;
    }
    if source.user_id.as_deref().is_some_and(|u| admins.iter().any(|a| a == u)) {
        return Tier::Admin;
    }
    let mut allowed: Vec<String> = ALWAYS_ALLOWED.iter().map(|s| s.to_string()).collect();
    for c in users {
        let c = c.trim_start_matches('/').to_ascii_lowercase();
        if !c.is_empty() && !allowed.contains(&c) {
            allowed.push(c);
        }
    }
    allowed.sort();
    Tier::User { allowed }
}

/// How many runnable commands the denial names before "…".
const DENIAL_LIST_MAX: usize = 8;

/// Hermes's denial for `/command` under `tier`.
pub fn denial_text(command: &str, tier: &Tier) -> String {
    let head = format!("⛔ /{command} is admin-only here. ");
    let extra: Vec<&String> = match tier {
        Tier::User { allowed } => allowed.iter().filter(|c| !ALWAYS_ALLOWED.contains(&c.as_str())).collect(),
        _ => Vec::new(),
    };
    if extra.is_empty() {
        return head
            + "No slash commands are enabled for non-admins on this platform. Ask an admin to add you to \
               allow_admin_from or to set user_allowed_commands.";
    }
    let allowed = tier.catalog().unwrap_or_default();
    let mut shown = allowed.iter().take(DENIAL_LIST_MAX).map(|c| format!("/{c}")).collect::<Vec<_>>().join(", ");
    if allowed.len() > DENIAL_LIST_MAX {
        shown.push('…');
    }
    format!("{head}You can run: {shown}. Use /whoami for the full list.")
}

/// `Ok` when the sender may run `command` (canonical name), else the denial to send.
pub fn check(access: &AccessConfig, source: &Source, command: &str) -> Result<(), String> {
    let t = tier(access, source);
    if t.allows(command) { Ok(()) } else { Err(denial_text(command, &t)) }
}

#[cfg(test)]
mod tests {
    use herald_core::Platform;

    use super::*;

    fn with_slash(slash: SlashAccessConfig) -> AccessConfig {
        let mut a = AccessConfig::default();
        a.platforms.insert(Platform::Telegram, herald_core::config::PlatformAccess { slash, ..Default::default() });
        a
    }

    fn from(user: &str, chat_type: ChatType) -> Source {
        let mut s = Source::dm(Platform::Telegram, "c");
        s.chat_type = chat_type;
        s.user_id = Some(user.into());
        s
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn acceptance_16_dm_gating_with_group_fallback() {
        let a = with_slash(SlashAccessConfig {
            allow_admin_from: list(&["1", "2"]),
            group_user_allowed_commands: list(&["/Status"]),
            ..Default::default()
        });
        let user = from("3", ChatType::Dm);
        assert!(check(&a, &user, "status").is_ok());
        assert!(check(&a, &user, "help").is_ok());
        assert!(check(&a, &user, "whoami").is_ok());
        let denied = check(&a, &user, "model").unwrap_err();
        assert_eq!(
            denied,
            "⛔ /model is admin-only here. You can run: /help, /status, /whoami. Use /whoami for the full list."
        );
        assert_eq!(tier(&a, &from("1", ChatType::Dm)), Tier::Admin);
        assert!(check(&a, &from("1", ChatType::Dm), "model").is_ok());
    }

    #[test]
    fn acceptance_16_admins_in_dm_do_not_gate_groups() {
        let a = with_slash(SlashAccessConfig { allow_admin_from: list(&["1"]), ..Default::default() });
        let t = tier(&a, &from("3", ChatType::Group));
        assert_eq!(t, Tier::Unrestricted);
        assert!(t.allows("model"));
        assert_eq!(tier(&AccessConfig::default(), &from("3", ChatType::Dm)), Tier::Unrestricted);
    }

    #[test]
    fn group_scope_and_empty_user_list_denial() {
        let a = with_slash(SlashAccessConfig { group_allow_admin_from: list(&["9"]), ..Default::default() });
        let s = from("3", ChatType::Forum);
        let t = tier(&a, &s);
        assert_eq!(t, Tier::User { allowed: list(&["help", "whoami"]) });
        assert_eq!(t.catalog(), Some(&list(&["help", "whoami"])[..]));
        assert_eq!(
            check(&a, &s, "new").unwrap_err(),
            "⛔ /new is admin-only here. No slash commands are enabled for non-admins on this platform. Ask an admin to add you to allow_admin_from or to set user_allowed_commands."
        );
        assert_eq!(tier(&a, &from("9", ChatType::Group)), Tier::Admin);
        // DM scope has no admins: unrestricted there.
        assert_eq!(tier(&a, &from("3", ChatType::Dm)), Tier::Unrestricted);
    }

    #[test]
    fn long_lists_are_cut_in_the_denial() {
        let many: Vec<String> = (0..12).map(|i| format!("c{i:02}")).collect();
        let a = with_slash(SlashAccessConfig {
            allow_admin_from: list(&["1"]),
            user_allowed_commands: many,
            ..Default::default()
        });
        let d = check(&a, &from("3", ChatType::Dm), "model").unwrap_err();
        assert!(d.contains("/c00, ") && d.ends_with("…. Use /whoami for the full list."), "{d}");
        assert!(!d.contains("/whoami,"), "{d}");
    }
}
