//! Builds the system prompt: persona, memory, then the per-turn session context.
//!
//! The order matters for cost: persona and memory change rarely, so they form the
//! cached prefix; the session context (time, where the message came from) changes every
//! turn and comes after the cache mark.

use std::io;
use std::path::Path;

use crate::provider::SystemBlock;

/// Used when `SOUL.md` is missing or empty.
pub const DEFAULT_SOUL: &str = "You are a helpful, knowledgeable assistant reached through herald. \
Answer directly and accurately, say so when you are unsure, and use your tools when they help: \
`clock` for the date and time, `memory` to remember durable facts, `session_search` to recall earlier conversations.";

/// The pieces of one turn's system prompt.
#[derive(Debug, Clone, Default)]
pub struct PromptParts<'a> {
    /// `SOUL.md`, if present.
    pub soul: Option<&'a str>,
    /// `MEMORY.md`, if enabled and present.
    pub memory: Option<&'a str>,
    /// `USER.md`, if enabled and present.
    pub user: Option<&'a str>,
    /// Where and when this turn happens, written by the caller.
    pub session_context: Option<&'a str>,
    /// Extra system text for this turn only (e.g. an API client's system message).
    pub ephemeral: Option<&'a str>,
}

/// Reads `SOUL.md` from the home directory; missing or blank means the default persona.
pub async fn load_soul(home: &Path) -> io::Result<Option<String>> {
    match tokio::fs::read_to_string(home.join("SOUL.md")).await {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Assembles the system blocks for a request.
pub fn system_blocks(parts: &PromptParts<'_>) -> Vec<SystemBlock> {
    let mut stable = parts.soul.unwrap_or(DEFAULT_SOUL).to_string();
    if let Some(memory) = parts.memory {
        stable.push_str("\n\n## Your memory (MEMORY.md)\n");
        stable.push_str(memory);
    }
    if let Some(user) = parts.user {
        stable.push_str("\n\n## About the user (USER.md)\n");
        stable.push_str(user);
    }
    let mut blocks = vec![SystemBlock { text: stable, cache: true }];
    if let Some(ctx) = parts.session_context.filter(|c| !c.trim().is_empty()) {
        blocks.push(SystemBlock { text: format!("## Session context\n{ctx}"), cache: false });
    }
    if let Some(extra) = parts.ephemeral.filter(|c| !c.trim().is_empty()) {
        blocks.push(SystemBlock { text: extra.to_string(), cache: false });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_prefix_first_and_cached() {
        let blocks = system_blocks(&PromptParts {
            soul: Some("You are Ada."),
            memory: Some("The build uses cargo."),
            user: None,
            session_context: Some("Platform: local"),
            ephemeral: Some("Speak like a pirate."),
        });
        assert_eq!(blocks.len(), 3);
        assert!(blocks[0].cache && !blocks[1].cache && !blocks[2].cache);
        assert_eq!(blocks[0].text, "You are Ada.\n\n## Your memory (MEMORY.md)\nThe build uses cargo.");
        assert_eq!(blocks[1].text, "## Session context\nPlatform: local");
    }

    #[tokio::test]
    async fn soul_file_is_optional() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_soul(dir.path()).await.unwrap(), None);
        std::fs::write(dir.path().join("SOUL.md"), "  Be terse.\n").unwrap();
        assert_eq!(load_soul(dir.path()).await.unwrap().as_deref(), Some("Be terse."));
        assert_eq!(system_blocks(&PromptParts::default())[0].text, DEFAULT_SOUL);
    }
}
