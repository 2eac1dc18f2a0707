//! The files a turn's system prompt is built from: the persona (`SOUL.md`) and the two
//! memory files, read fresh for every turn so that edits, by hand or by the `memory`
//! tool, apply from the next turn on.
//!
//! "Fresh" is checked, not re-read: each turn looks at the files' size, modification
//! time and inode, and only when one of them changed are the texts read again (on the
//! blocking pool). Reading them for every turn cost a trip to the blocking pool, two
//! thread switches, on every API request. The `memory` tool saves by rename, so its
//! every write is a new inode, seen even within the file system's timestamp tick.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use herald_agent::prompt::{PromptParts, system_blocks};
use herald_agent::provider::SystemBlock;
use herald_agent::tools::MemoryFiles;

use crate::ConversationError;

/// Where the persona and memory files are, and which memory files are enabled.
#[derive(Debug, Clone)]
pub struct PromptFiles {
    home: PathBuf,
    memory: MemoryFiles,
    /// SOUL.md, then MEMORY.md and USER.md when enabled.
    paths: [Option<PathBuf>; 3],
    /// The texts last read and the stamps of the files they were read from.
    cache: Arc<Mutex<Option<Cached>>>,
}

/// The stamps of the three files and the texts read from them.
type Cached = ([Stamp; 3], PromptTexts);

/// What tells a changed file apart: `None` for a missing (or disabled) file.
type Stamp = Option<(u64, SystemTime, u64)>;

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
        // The file names are the ones `herald_agent::tools::MemoryFiles` reads and writes.
        let paths = [
            Some(home.join("SOUL.md")),
            memory.memory_enabled.then(|| memory.dir.join("MEMORY.md")),
            memory.user_enabled.then(|| memory.dir.join("USER.md")),
        ];
        PromptFiles { home, memory, paths, cache: Arc::default() }
    }

    pub fn memory(&self) -> &MemoryFiles {
        &self.memory
    }

    /// The current texts: the cached ones while no file changed, else read again.
    pub async fn read(&self) -> Result<PromptTexts, ConversationError> {
        // Three stats of local files take microseconds, less than the hop to the
        // blocking pool they save; reading, which can take longer, stays off this thread.
        let stamps = self.paths.each_ref().map(|path| path.as_deref().and_then(stamp));
        if let Some((cached, texts)) = &*self.cache.lock().unwrap_or_else(|e| e.into_inner())
            && *cached == stamps
        {
            return Ok(texts.clone());
        }
        let files = self.clone();
        let texts = tokio::task::spawn_blocking(move || files.read_blocking()).await.map_err(|e| {
            ConversationError::Read { path: self.home.display().to_string(), source: io::Error::other(e) }
        })??;
        // Stamped before reading: a file changed while it was read differs next time.
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((stamps, texts.clone()));
        Ok(texts)
    }

    fn read_blocking(&self) -> Result<PromptTexts, ConversationError> {
        let read = |path: &Option<PathBuf>| path.as_deref().map(read_text).transpose().map(Option::flatten);
        Ok(PromptTexts { soul: read(&self.paths[0])?, memory: read(&self.paths[1])?, user: read(&self.paths[2])? })
    }
}

/// Size, modification time and inode of `path`; `None` when it cannot be read (the read
/// then says why, or finds it missing).
fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok()?, inode))
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

    #[tokio::test]
    async fn an_edit_is_seen_by_the_next_read_and_an_unchanged_file_is_not_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path(), true);
        let soul = dir.path().join("SOUL.md");
        std::fs::write(&soul, "You are Ada.").expect("soul");
        assert_eq!(files.read().await.expect("read").soul.as_deref(), Some("You are Ada."));

        // Same length, so only the modification time (or inode) tells the edit apart.
        std::fs::write(&soul, "You are Bob.").expect("edit");
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        std::fs::File::options().write(true).open(&soul).expect("open").set_modified(later).expect("mtime");
        assert_eq!(files.read().await.expect("read").soul.as_deref(), Some("You are Bob."));

        // A file replaced by rename (as editors and the memory tool save) is a new inode.
        let memory = dir.path().join("MEMORY.md");
        std::fs::write(dir.path().join("new"), "Builds use cargo.").expect("write");
        std::fs::rename(dir.path().join("new"), &memory).expect("rename");
        assert_eq!(files.read().await.expect("read").memory.as_deref(), Some("Builds use cargo."));

        // Unchanged stamps mean the cached text: content swapped behind the same size,
        // time and inode is not read (the one edit this check cannot see).
        std::fs::write(&soul, "You are Eve.").expect("swap");
        std::fs::File::options().write(true).open(&soul).expect("open").set_modified(later).expect("mtime");
        assert_eq!(files.read().await.expect("cached").soul.as_deref(), Some("You are Bob."));

        std::fs::remove_file(&memory).expect("remove");
        assert_eq!(files.read().await.expect("read").memory, None, "removed");
    }
}
