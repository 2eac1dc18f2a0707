//! Tools the model can call, and the registry that offers them.

mod clock;
mod memory;
mod session_search;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use clock::ClockTool;
pub use memory::{MemoryFiles, MemoryTarget, MemoryTool};
pub use session_search::{SessionSearchTool, TranscriptHit, TranscriptSearch};

use crate::provider::ToolSpec;

/// What a tool knows about the turn it runs in.
#[derive(Debug, Clone, Default)]
pub struct ToolContext {
    /// The session the turn belongs to, if it is stored.
    pub session_id: Option<String>,
    /// Cancelled when the turn is stopped; long tools should watch it.
    pub cancel: CancellationToken,
}

/// Why a tool call failed. The message is shown to the model, which can correct itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    #[error("{0}")]
    Failed(String),
}

/// A capability offered to the model.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as sent to the model.
    fn spec(&self) -> ToolSpec;

    /// Whether this tool may run at the same time as other calls of the same turn.
    fn parallel_safe(&self) -> bool {
        true
    }

    /// Runs the call. The returned text goes back to the model as the tool result.
    async fn call(&self, args: serde_json::Value, ctx: &ToolContext) -> Result<String, ToolError>;
}

/// The tools of one agent, by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool; a later tool with the same name replaces the earlier one.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> &mut Self {
        self.tools.insert(tool.spec().name, tool);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// Specs of every tool, in name order (a stable order keeps provider caches warm).
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|t| t.spec()).collect()
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// Reads a required string argument.
pub(crate) fn required_str<'a>(args: &'a serde_json::Value, name: &str) -> Result<&'a str, ToolError> {
    args.get(name)
        .and_then(|v| v.as_str())
        .ok_or_else(|| ToolError::InvalidArguments(format!("`{name}` (a string) is required")))
}
