//! Long-term memory in plain files the user can read and edit: `MEMORY.md` (what the
//! agent has learnt) and `USER.md` (what it knows about the user).
//!
//! Entries are separated by a line holding only `§`, as in Hermes, so files carry over.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::Mutex;

use super::{Tool, ToolContext, ToolError, required_str};
use crate::provider::ToolSpec;

const SEPARATOR: &str = "\n§\n";

/// Which file a memory operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryTarget {
    Memory,
    User,
}

impl MemoryTarget {
    fn file_name(self) -> &'static str {
        match self {
            MemoryTarget::Memory => "MEMORY.md",
            MemoryTarget::User => "USER.md",
        }
    }
}

/// The two memory files and their limits.
#[derive(Debug, Clone)]
pub struct MemoryFiles {
    pub dir: PathBuf,
    pub memory_enabled: bool,
    pub user_enabled: bool,
    pub memory_char_limit: usize,
    pub user_char_limit: usize,
}

impl MemoryFiles {
    fn path(&self, target: MemoryTarget) -> PathBuf {
        self.dir.join(target.file_name())
    }

    fn enabled(&self, target: MemoryTarget) -> bool {
        match target {
            MemoryTarget::Memory => self.memory_enabled,
            MemoryTarget::User => self.user_enabled,
        }
    }

    fn limit(&self, target: MemoryTarget) -> usize {
        match target {
            MemoryTarget::Memory => self.memory_char_limit,
            MemoryTarget::User => self.user_char_limit,
        }
    }

    /// The file's text, or `None` when it is disabled, missing or empty.
    pub async fn read(&self, target: MemoryTarget) -> io::Result<Option<String>> {
        if !self.enabled(target) {
            return Ok(None);
        }
        match tokio::fs::read_to_string(self.path(target)).await {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn entries(text: &str) -> Vec<String> {
    text.split(SEPARATOR).map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect()
}

/// Writes through a temporary file and a rename so a crash never leaves half a file.
async fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("md.tmp");
    tokio::fs::write(&tmp, text).await?;
    tokio::fs::rename(&tmp, path).await
}

/// The `memory` tool: read, add, replace and remove entries.
pub struct MemoryTool {
    files: MemoryFiles,
    // Serialises read-modify-write cycles across concurrent turns.
    lock: Mutex<()>,
}

impl MemoryTool {
    pub fn new(files: MemoryFiles) -> Self {
        MemoryTool { files, lock: Mutex::new(()) }
    }

    fn target(args: &serde_json::Value) -> Result<MemoryTarget, ToolError> {
        match args.get("target").and_then(|v| v.as_str()).unwrap_or("memory") {
            "memory" => Ok(MemoryTarget::Memory),
            "user" => Ok(MemoryTarget::User),
            other => Err(ToolError::InvalidArguments(format!("`target` must be `memory` or `user`, not `{other}`"))),
        }
    }

    fn find_one(list: &[String], old_text: &str) -> Result<usize, ToolError> {
        let hits: Vec<usize> = list.iter().enumerate().filter(|(_, e)| e.contains(old_text)).map(|(i, _)| i).collect();
        match hits.as_slice() {
            [i] => Ok(*i),
            [] => {
                Err(ToolError::Failed(format!("no entry contains `{old_text}`; use action `read` to see the entries")))
            }
            _ => Err(ToolError::Failed(format!(
                "{} entries contain `{old_text}`; quote more of the entry so exactly one matches",
                hits.len()
            ))),
        }
    }
}

#[async_trait]
impl Tool for MemoryTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory".into(),
            description:
                "Durable memory across conversations. target `memory` is your own notes (facts, lessons, environment); \
                target `user` is what you know about the user (name, preferences). Actions: read, add (content), \
                replace (old_text -> content), remove (old_text). Keep entries short; the files have size limits."
                    .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["read", "add", "replace", "remove"]},
                    "target": {"type": "string", "enum": ["memory", "user"]},
                    "content": {"type": "string", "description": "The entry to add, or the replacement."},
                    "old_text": {"type": "string", "description": "Text that identifies exactly one existing entry."}
                },
                "required": ["action", "target"],
                "additionalProperties": false
            }),
        }
    }

    fn parallel_safe(&self) -> bool {
        false
    }

    async fn call(&self, args: serde_json::Value, _ctx: &ToolContext) -> Result<String, ToolError> {
        let action = required_str(&args, "action")?;
        let target = Self::target(&args)?;
        if !self.files.enabled(target) {
            return Err(ToolError::Failed(format!("{} is disabled in the configuration", target.file_name())));
        }
        let _guard = self.lock.lock().await;
        let path = self.files.path(target);
        let current = self
            .files
            .read(target)
            .await
            .map_err(|e| ToolError::Failed(format!("cannot read {}: {e}", path.display())))?;
        let mut list = entries(current.as_deref().unwrap_or(""));
        match action {
            "read" => {
                return Ok(if list.is_empty() {
                    format!("{} is empty.", target.file_name())
                } else {
                    list.join(SEPARATOR)
                });
            }
            "add" => {
                let content = required_str(&args, "content")?.trim();
                if content.is_empty() || content.contains(SEPARATOR) {
                    return Err(ToolError::InvalidArguments(
                        "`content` must be non-empty and must not contain a `§` line".into(),
                    ));
                }
                list.push(content.to_string());
            }
            "replace" => {
                let content = required_str(&args, "content")?.trim();
                let i = Self::find_one(&list, required_str(&args, "old_text")?)?;
                if content.is_empty() || content.contains(SEPARATOR) {
                    return Err(ToolError::InvalidArguments(
                        "`content` must be non-empty and must not contain a `§` line".into(),
                    ));
                }
                list[i] = content.to_string();
            }
            "remove" => {
                let i = Self::find_one(&list, required_str(&args, "old_text")?)?;
                list.remove(i);
            }
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "unknown action `{other}`; use read, add, replace or remove"
                )));
            }
        }
        let text = list.join(SEPARATOR);
        let limit = self.files.limit(target);
        let size = text.chars().count();
        if size > limit {
            return Err(ToolError::Failed(format!(
                "{} would hold {size} characters, over its limit of {limit}; remove or shorten entries first",
                target.file_name()
            )));
        }
        write_atomic(&path, &format!("{text}\n"))
            .await
            .map_err(|e| ToolError::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(format!("{} updated ({size}/{limit} characters, {} entries).", target.file_name(), list.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(dir: &Path) -> MemoryTool {
        MemoryTool::new(MemoryFiles {
            dir: dir.to_path_buf(),
            memory_enabled: true,
            user_enabled: true,
            memory_char_limit: 60,
            user_char_limit: 100,
        })
    }

    async fn call(t: &MemoryTool, args: serde_json::Value) -> Result<String, ToolError> {
        t.call(args, &ToolContext::default()).await
    }

    #[tokio::test]
    async fn add_replace_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let t = tool(dir.path());
        call(&t, json!({"action": "add", "target": "user", "content": "Name: Ada"})).await.unwrap();
        call(&t, json!({"action": "add", "target": "user", "content": "Likes tea"})).await.unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("USER.md")).unwrap(), "Name: Ada\n§\nLikes tea\n");
        call(&t, json!({"action": "replace", "target": "user", "old_text": "tea", "content": "Likes coffee"}))
            .await
            .unwrap();
        call(&t, json!({"action": "remove", "target": "user", "old_text": "Ada"})).await.unwrap();
        assert_eq!(call(&t, json!({"action": "read", "target": "user"})).await.unwrap(), "Likes coffee");
        assert!(!dir.path().join("MEMORY.md").exists());
    }

    #[tokio::test]
    async fn limits_and_ambiguity_are_reported_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = tool(dir.path());
        call(&t, json!({"action": "add", "target": "memory", "content": "a".repeat(50)})).await.unwrap();
        let err = call(&t, json!({"action": "add", "target": "memory", "content": "b".repeat(20)})).await.unwrap_err();
        assert!(err.to_string().contains("over its limit of 60"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join("MEMORY.md")).unwrap(), format!("{}\n", "a".repeat(50)));
        let err = call(&t, json!({"action": "remove", "target": "memory", "old_text": "zzz"})).await.unwrap_err();
        assert!(err.to_string().contains("no entry contains"));
        let err = call(&t, json!({"action": "fly", "target": "memory"})).await.unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }
}
