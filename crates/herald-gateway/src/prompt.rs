//! The files a turn's system prompt is built from: the persona (`SOUL.md`) and the two
//! memory files, read fresh for every turn so that edits, by hand or by the `memory`
//! tool, apply from the next turn on.

use std::io;
use std::path::{Path, PathBuf};

use herald_agent::prompt::{PromptParts, system_blocks};
use herald_agent::provider::SystemBlock;
use herald_agent::tools::MemoryFiles;

use crate::ConversationError;

/// Where the persona and memory files are, and which memory files are enabled.
#[derive(Debug, Clone)]
pub struct PromptFiles {
    home: PathBuf,
    memory: MemoryFiles,
}

/// The texts read for one turn; `None` for a file that is missing, empty or disabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptTexts {
    pub soul: Option<String>,
    pub memory: Option<String>,
    pub user: Option<String>,
}

impl PromptTexts {
    /// The system blocks of a turn: these texts, then `session_context`, then
    /// `ephemeral` (system text for this turn only).
    pub fn system(&self, session_context: &str, ephemeral: Option<&str>) -> Vec<SystemBlock> {
        system_blocks(&PromptParts {
            soul: self.soul.as_deref(),
            memory: self.memory.as_deref(),
            user: self.user.as_deref(),
            session_context: Some(session_context),
            ephemeral,
        })
    }
}

impl PromptFiles {
    pub fn new(home: PathBuf, memory: MemoryFiles) -> Self {
        PromptFiles { home, memory }
    }

    pub fn memory(&self) -> &MemoryFiles {
        &self.memory
    }

    /// Reads the three files in one trip to the blocking pool: this runs for every turn,
    /// and one hop costs a third of three.
    pub async fn read(&self) -> Result<PromptTexts, ConversationError> {
        let files = self.clone();
        tokio::task::spawn_blocking(move || files.read_blocking()).await.map_err(|e| ConversationError::Read {
            path: self.home.display().to_string(),
            source: io::Error::other(e),
        })?
    }

    fn read_blocking(&self) -> Result<PromptTexts, ConversationError> {
        // The file names are the ones `herald_agent::tools::MemoryFiles` reads and writes.
        let memory_dir = &self.memory.dir;
        Ok(PromptTexts {
            soul: read_text(&self.home.join("SOUL.md"))?,
            memory: if self.memory.memory_enabled { read_text(&memory_dir.join("MEMORY.md"))? } else { None },
            user: if self.memory.user_enabled { read_text(&memory_dir.join("USER.md"))? } else { None },
        })
    }
}

/// The trimmed text of `path`; missing or blank is `None`.
fn read_text(path: &Path) -> Result<Option<String>, ConversationError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConversationError::Read { path: path.display().to_string(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, memory_enabled: bool) -> PromptFiles {
        PromptFiles::new(
            dir.to_path_buf(),
            MemoryFiles {
                dir: dir.to_path_buf(),
                memory_enabled,
                user_enabled: true,
                memory_char_limit: 2200,
                user_char_limit: 1375,
            },
        )
    }

    #[tokio::test]
    async fn reads_trimmed_texts_and_skips_missing_blank_and_disabled_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(files(dir.path(), true).read().await.expect("read"), PromptTexts::default());

        std::fs::write(dir.path().join("SOUL.md"), "  You are Ada.\n").expect("soul");
        std::fs::write(dir.path().join("MEMORY.md"), "The build uses cargo.").expect("memory");
        std::fs::write(dir.path().join("USER.md"), " \n ").expect("user");
        let texts = files(dir.path(), true).read().await.expect("read");
        assert_eq!(texts.soul.as_deref(), Some("You are Ada."));
        assert_eq!(texts.memory.as_deref(), Some("The build uses cargo."));
        assert_eq!(texts.user, None, "blank");
        assert_eq!(files(dir.path(), false).read().await.expect("read").memory, None, "disabled");

        let blocks = texts.system("Platform: api_server", Some("Answer in French."));
        assert_eq!(blocks.len(), 3);
        assert!(blocks[0].text.starts_with("You are Ada."));
        assert_eq!(blocks[2].text, "Answer in French.");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be cannot be read as text.
        std::fs::create_dir(dir.path().join("SOUL.md")).expect("mkdir");
        let err = files(dir.path(), true).read().await.expect_err("unreadable");
        assert!(err.to_string().contains("SOUL.md"), "{err}");
    }
}
