//! The slash commands the gateway knows: names, aliases, descriptions and argument
//! hints as Hermes's `COMMAND_REGISTRY` (`hermes_cli/commands.py`) has them, in its
//! order, and the `/help` and `/commands` pages rendered as Hermes renders them.
//!
//! Deliberate differences from Hermes's texts, because herald is not Hermes:
//! - the `/help` header says "Herald Commands" (Hermes: "Hermes Commands");
//! - `/stop` says what it does in herald (interrupt the running turn; Hermes's
//!   description, "Kill all running background processes", is a leftover there);
//! - `/version` names herald.

use herald_core::Platform;

/// One command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// Canonical name without the `/`.
    pub name: &'static str,
    pub description: &'static str,
    /// Hermes's category (Session, Configuration, Info).
    pub category: &'static str,
    pub aliases: &'static [&'static str],
    /// Placeholder for the arguments, `""` when there are none.
    pub args_hint: &'static str,
    /// Runs while the session's turn is running instead of waiting behind it
    /// (Hermes's `busy_policy` `dispatch` or `interrupt_then_dispatch`).
    pub runs_while_busy: bool,
}

const fn cmd(
    name: &'static str,
    description: &'static str,
    category: &'static str,
    aliases: &'static [&'static str],
    args_hint: &'static str,
    runs_while_busy: bool,
) -> CommandSpec {
    CommandSpec { name, description, category, aliases, args_hint, runs_while_busy }
}

/// Every command, in Hermes's registry order (the order of `/help`).
pub const COMMANDS: &[CommandSpec] = &[
    cmd("start", "Acknowledge platform start pings without a reply", "Session", &[], "", true),
    cmd("new", "Start a new session (fresh session ID + history)", "Session", &["reset"], "[name]", true),
    cmd("retry", "Retry the last message (resend to agent)", "Session", &[], "", false),
    cmd("undo", "Back up N user turns and re-prompt (default 1)", "Session", &[], "[N]", false),
    cmd("title", "Set a title for the current session", "Session", &[], "[name]", false),
    cmd("stop", "Interrupt the running task (the session stays)", "Session", &[], "", true),
    cmd("approve", "Approve a pending dangerous command", "Session", &[], "[session|always]", true),
    cmd("deny", "Deny a pending dangerous command (optionally with a reason)", "Session", &[], "[all] [reason]", true),
    cmd("queue", "Queue a prompt for the next turn (doesn't interrupt)", "Session", &["q"], "<prompt>", true),
    cmd("steer", "Inject a message after the next tool call without interrupting", "Session", &[], "<prompt>", true),
    cmd("status", "Show session, model, token, and context info", "Session", &[], "", true),
    cmd("whoami", "Show your slash command access (admin / user)", "Info", &[], "", false),
    cmd("sethome", "Set this chat as the home channel", "Session", &["set-home"], "", false),
    cmd(
        "model",
        "Switch model (session-scoped; --global to persist)",
        "Configuration",
        &[],
        "[model] [--provider name] [--global|--session] [--refresh]",
        false,
    ),
    cmd(
        "reasoning",
        "Manage reasoning effort and display",
        "Configuration",
        &[],
        "[level|show|hide|full|clamp] [--global]",
        false,
    ),
    cmd("commands", "Browse all commands and skills (paginated)", "Info", &[], "[page]", true),
    cmd("help", "Show available commands", "Info", &[], "", true),
    cmd("usage", "Show token usage and rate limits for the current session", "Info", &[], "", false),
    cmd("version", "Show the running herald version", "Info", &["v"], "", true),
];

/// The command with this canonical name or alias (lower case, `-` not `_`).
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name))
}

/// Hermes's unknown-command reply. `name` is the typed name without `/`.
pub fn unknown_command_reply(name: &str) -> String {
    format!(
        "Unknown command `/{name}`. Type /commands to see what's available, \
         or resend without the leading slash to send as a regular message."
    )
}

/// One line per command: "`/name args` -- description (alias: `/a`)" (Hermes's
/// `gateway_help_lines`). `allowed` restricts the list to what a gated non-admin may
/// run (canonical names), as Hermes's `/help` does.
pub fn help_lines(allowed: Option<&[String]>) -> Vec<String> {
    COMMANDS
        .iter()
        .filter(|c| allowed.is_none_or(|a| a.iter().any(|n| n == c.name)))
        .map(|c| {
            let args = if c.args_hint.is_empty() { String::new() } else { format!(" {}", c.args_hint) };
            let aliases: Vec<String> = c
                .aliases
                .iter()
                // Hermes hides aliases that only swap `-` and `_` of the name.
                .filter(|a| a.replace('-', "_") != c.name.replace('-', "_"))
                .map(|a| format!("`/{a}`"))
                .collect();
            let note = if aliases.is_empty() { String::new() } else { format!(" (alias: {})", aliases.join(", ")) };
            format!("`/{}{args}` -- {}{note}", c.name, c.description)
        })
        .collect()
}

/// Telegram command names cannot contain `-`: mentions like `/set-home` are shown as
/// `/set_home`, which the parser maps back (Hermes's `_telegramize_command_mentions`).
pub fn for_platform(text: &str, platform: &Platform) -> String {
    if *platform != Platform::Telegram {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_mention = false;
    let mut prev: Option<char> = None;
    for ch in text.chars() {
        if ch == '/' {
            // A mention starts at a `/` that does not follow a word character.
            in_mention = !prev.is_some_and(|p| p.is_alphanumeric());
            out.push(ch);
        } else if in_mention && ch == '-' {
            out.push('_');
        } else {
            if in_mention && !(ch.is_ascii_alphanumeric() || ch == '_') {
                in_mention = false;
            }
            out.push(ch);
        }
        prev = Some(ch);
    }
    out
}

/// The `/help` reply.
pub fn help_text(platform: &Platform, allowed: Option<&[String]>) -> String {
    let mut lines = vec!["📖 **Herald Commands**\n".to_string()];
    lines.extend(help_lines(allowed));
    for_platform(&lines.join("\n"), platform)
}

/// Hermes's page size: Telegram messages are shorter.
pub fn page_size(platform: &Platform) -> usize {
    if *platform == Platform::Telegram { 15 } else { 20 }
}

/// The `/commands [page]` reply; `args` is the command's argument text.
pub fn commands_page(args: &str, platform: &Platform, allowed: Option<&[String]>) -> String {
    let raw = args.trim();
    let requested: i64 = if raw.is_empty() {
        1
    } else {
        match raw.parse() {
            Ok(n) => n,
            Err(_) => return "Usage: `/commands [page]`".to_string(),
        }
    };
    let entries = help_lines(allowed);
    if entries.is_empty() {
        return "No commands available.".to_string();
    }
    let size = page_size(platform);
    let total = entries.len().div_ceil(size);
    let page = requested.clamp(1, total as i64) as usize;
    let start = (page - 1) * size;
    let mut lines = vec![format!("📚 **Commands** ({} total, page {page}/{total})", entries.len()), String::new()];
    lines.extend(entries[start..(start + size).min(entries.len())].iter().cloned());
    if total > 1 {
        let mut nav = Vec::new();
        if page > 1 {
            nav.push(format!("`/commands {}` ← prev", page - 1));
        }
        if page < total {
            nav.push(format!("next → `/commands {}`", page + 1));
        }
        lines.push(String::new());
        lines.push(nav.join(" | "));
    }
    if page as i64 != requested {
        lines.push(format!("_(Requested page {requested} was out of range, showing page {page}.)_"));
    }
    for_platform(&lines.join("\n"), platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_of_the_issue_is_registered() {
        for name in [
            "new",
            "reset",
            "stop",
            "status",
            "help",
            "commands",
            "whoami",
            "model",
            "reasoning",
            "queue",
            "steer",
            "retry",
            "undo",
            "title",
            "usage",
            "approve",
            "deny",
            "sethome",
            "version",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
        assert_eq!(lookup("reset").unwrap().name, "new");
        assert_eq!(lookup("set-home").unwrap().name, "sethome");
        assert_eq!(lookup("q").unwrap().name, "queue");
        assert!(lookup("frobnicate").is_none());
        // Names and aliases are unique.
        let mut all: Vec<&str> =
            COMMANDS.iter().flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied())).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn unknown_reply_is_hermes() {
        assert_eq!(
            unknown_command_reply("frob"),
            "Unknown command `/frob`. Type /commands to see what's available, or resend without the leading slash to send as a regular message."
        );
    }

    #[test]
    fn help_lines_as_hermes_renders_them() {
        let lines = help_lines(None);
        assert_eq!(lines.len(), COMMANDS.len());
        assert_eq!(lines[1], "`/new [name]` -- Start a new session (fresh session ID + history) (alias: `/reset`)");
        assert!(lines.contains(&"`/help` -- Show available commands".to_string()));
        assert!(lines.contains(&"`/sethome` -- Set this chat as the home channel (alias: `/set-home`)".to_string()));
        let only = help_lines(Some(&["help".to_string(), "whoami".to_string()]));
        assert_eq!(only.len(), 2);
    }

    #[test]
    fn help_text_has_the_header_and_telegram_mentions() {
        let t = help_text(&Platform::Telegram, None);
        assert!(t.starts_with("📖 **Herald Commands**\n\n`/start` -- "), "{t}");
        assert!(t.contains("(alias: `/set_home`)"), "{t}");
        // Flags keep their dashes.
        assert!(t.contains("[--global|--session]"), "{t}");
        assert!(help_text(&Platform::Discord, None).contains("`/set-home`"));
    }

    #[test]
    fn telegram_mentions_only_touch_slash_words() {
        assert_eq!(for_platform("use /set-home or a/b-c", &Platform::Telegram), "use /set_home or a/b-c");
        assert_eq!(for_platform("/reload-mcp now-ish", &Platform::Telegram), "/reload_mcp now-ish");
    }

    #[test]
    fn commands_pages() {
        let t = Platform::Telegram;
        let n = COMMANDS.len();
        let p1 = commands_page("", &t, None);
        assert!(p1.starts_with(&format!("📚 **Commands** ({n} total, page 1/2)\n\n`/start`")), "{p1}");
        assert!(p1.ends_with("\n\nnext → `/commands 2`"), "{p1}");
        assert_eq!(p1.lines().filter(|l| l.starts_with("`/")).count(), 15);
        let p2 = commands_page("2", &t, None);
        assert!(p2.contains("page 2/2") && p2.contains("`/commands 1` ← prev") && !p2.contains("next →"), "{p2}");
        let far = commands_page("9", &t, None);
        assert!(far.contains("page 2/2") && far.ends_with("_(Requested page 9 was out of range, showing page 2.)_"));
        let low = commands_page("-3", &t, None);
        assert!(low.contains("page 1/2") && low.contains("Requested page -3"));
        assert_eq!(commands_page("two", &t, None), "Usage: `/commands [page]`");
        // Twenty per page elsewhere: one page, no navigation.
        let d = commands_page("", &Platform::Discord, None);
        assert!(d.contains("page 1/1") && !d.contains("next →"), "{d}");
    }
}
