//! Slash command parsing (Hermes's `MessageEvent.get_command`, reference §5).
//!
//! A command is text starting with `/` whose first token (up to whitespace) is the
//! name. The name is lower-cased, `_` becomes `-` (Telegram's menu cannot show
//! hyphens, so `/set_home` is `/set-home`), and an `@botname` suffix is removed when it
//! names this bot. A first token containing another `/` is a path (`/usr/bin`), not a
//! command. Arguments are the rest of the text with iOS's dash substitutions undone
//! (`—` back to `--`, `–` back to `-`).

use super::registry::{CommandSpec, lookup};

/// A slash command as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand {
    /// The canonical name when the command is known (`reset` becomes `new`), else the
    /// normalised typed name (for the unknown-command reply).
    pub name: String,
    /// The registry entry, `None` for an unknown command.
    pub spec: Option<&'static CommandSpec>,
    /// Everything after the name, trimmed, dashes fixed.
    pub args: String,
    /// The first token without the leading `/`, exactly as typed (`Reset@herald_bot`).
    pub raw: String,
}

impl ParsedCommand {
    /// The arguments split on whitespace.
    pub fn argv(&self) -> Vec<&str> {
        self.args.split_whitespace().collect()
    }

    pub fn is_known(&self) -> bool {
        self.spec.is_some()
    }
}

fn fix_dashes(args: &str) -> String {
    args.replace('\u{2014}', "--").replace('\u{2013}', "-")
}

/// Parses `text` as a slash command. `bot_name` is this bot's username, with or
/// without `@` (compared case-insensitively). `None` when the text is not a command,
/// or is a command for another bot (`/new@other_bot`): such a message is not ours to
/// answer as a command.
pub fn parse(text: &str, bot_name: Option<&str>) -> Option<ParsedCommand> {
    let body = text.strip_prefix('/')?;
    let (token, rest) = match body.find(char::is_whitespace) {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    if token.is_empty() || token.contains('/') {
        return None;
    }
    let mut name = token;
    if let Some((head, target)) = token.split_once('@') {
        let ours = bot_name.map(|b| b.trim_start_matches('@')).filter(|b| !b.is_empty());
        match ours {
            Some(b) if b.eq_ignore_ascii_case(target) => name = head,
            // Addressed to some other bot.
            _ if !target.is_empty() => return None,
            _ => name = head,
        }
    }
    if name.is_empty() {
        return None;
    }
    let typed = name.to_lowercase().replace('_', "-");
    let spec = lookup(&typed);
    Some(ParsedCommand {
        name: spec.map_or(typed, |s| s.name.to_string()),
        spec,
        args: fix_dashes(rest.trim()),
        raw: token.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Option<ParsedCommand> {
        parse(text, Some("herald_bot"))
    }

    #[test]
    fn names_args_and_aliases() {
        let c = p("/new  my  project ").unwrap();
        assert_eq!((c.name.as_str(), c.args.as_str(), c.raw.as_str()), ("new", "my  project", "new"));
        assert_eq!(c.argv(), vec!["my", "project"]);
        assert!(c.is_known());
        // Aliases resolve to the canonical name, case does not matter.
        assert_eq!(p("/RESET").unwrap().name, "new");
        assert_eq!(p("/q do this").unwrap().name, "queue");
        assert_eq!(p("/v").unwrap().name, "version");
        // Newlines separate the name too.
        let c = p("/queue\nline one\nline two").unwrap();
        assert_eq!((c.name.as_str(), c.args.as_str()), ("queue", "line one\nline two"));
    }

    #[test]
    fn underscores_become_hyphens() {
        assert_eq!(p("/set_home").unwrap().name, "sethome");
        assert_eq!(p("/set-home").unwrap().name, "sethome");
        let c = p("/Some_Thing").unwrap();
        assert_eq!((c.name.as_str(), c.is_known()), ("some-thing", false));
    }

    #[test]
    fn bot_suffix_only_when_it_is_ours() {
        let c = p("/Status@Herald_Bot").unwrap();
        assert_eq!((c.name.as_str(), c.raw.as_str()), ("status", "Status@Herald_Bot"));
        assert_eq!(parse("/status@herald_bot", Some("@herald_bot")).unwrap().name, "status");
        assert_eq!(p("/status@other_bot"), None);
        // Without a known bot name any addressed command is someone else's.
        assert_eq!(parse("/status@x", None), None);
        assert_eq!(p("/status@").unwrap().name, "status");
        assert_eq!(p("/@herald_bot"), None);
    }

    #[test]
    fn not_commands() {
        for t in ["hello", " /new", "/", "/ new", "/usr/bin/ls", "/a/b c", ""] {
            assert_eq!(p(t), None, "{t:?}");
        }
    }

    #[test]
    fn ios_dashes_in_args() {
        assert_eq!(p("/model gpt \u{2014}global").unwrap().args, "gpt --global");
        assert_eq!(p("/undo \u{2013}2").unwrap().args, "-2");
    }

    #[test]
    fn unknown_commands_keep_the_typed_name() {
        let c = p("/Frobnicate now").unwrap();
        assert_eq!((c.name.as_str(), c.spec, c.args.as_str()), ("frobnicate", None, "now"));
        // Non-ASCII names do not panic.
        assert_eq!(p("/Ünïcødé").unwrap().name, "ünïcødé");
    }
}
