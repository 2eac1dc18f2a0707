//! `session_search`: full-text search over past conversations.
//!
//! The agent does not know the store; whoever builds the agent supplies a
//! [`TranscriptSearch`] (the gateway wraps herald-store's search in one).

use async_trait::async_trait;
use herald_core::Role;
use serde_json::json;
use std::sync::Arc;

use super::{Tool, ToolContext, ToolError, required_str};
use crate::provider::ToolSpec;

/// One message found by a transcript search.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptHit {
    pub session_id: String,
    pub session_title: Option<String>,
    pub role: Role,
    pub snippet: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Searches stored conversations.
#[async_trait]
pub trait TranscriptSearch: Send + Sync {
    async fn search(&self, query: &str, limit: u32) -> Result<Vec<TranscriptHit>, String>;
}

/// The tool over a [`TranscriptSearch`].
pub struct SessionSearchTool {
    search: Arc<dyn TranscriptSearch>,
}

impl SessionSearchTool {
    pub fn new(search: Arc<dyn TranscriptSearch>) -> Self {
        SessionSearchTool { search }
    }
}

#[async_trait]
impl Tool for SessionSearchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "session_search".into(),
            description: "Search past conversations (all sessions) by words or any part of a word. \
                Use it when the user refers to something discussed before."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words or a fragment to look for."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Most results (default 5)."}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, args: serde_json::Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let query = required_str(&args, "query")?.trim();
        if query.is_empty() {
            return Err(ToolError::InvalidArguments("`query` must not be empty".into()));
        }
        let limit = args.get("limit").and_then(|v| v.as_u64()).unwrap_or(5).clamp(1, 20) as u32;
        // Ask for extra so that dropping the current session's own hits still fills the limit.
        let hits = self.search.search(query, limit + 10).await.map_err(ToolError::Failed)?;
        let results: Vec<serde_json::Value> = hits
            .into_iter()
            .filter(|h| ctx.session_id.as_deref() != Some(h.session_id.as_str()))
            .take(limit as usize)
            .map(|h| {
                let when = jiff::Timestamp::from_millisecond(h.timestamp_ms).map(|t| t.to_string()).unwrap_or_default();
                json!({"session_id": h.session_id, "title": h.session_title, "role": h.role.as_str(), "when": when, "snippet": h.snippet})
            })
            .collect();
        if results.is_empty() {
            return Ok(format!("No past messages match `{query}`."));
        }
        Ok(json!({"query": query, "results": results}).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<TranscriptHit>);

    #[async_trait]
    impl TranscriptSearch for Fixed {
        async fn search(&self, _q: &str, limit: u32) -> Result<Vec<TranscriptHit>, String> {
            Ok(self.0.iter().take(limit as usize).cloned().collect())
        }
    }

    fn hit(session: &str, text: &str) -> TranscriptHit {
        TranscriptHit {
            session_id: session.into(),
            session_title: None,
            role: Role::User,
            snippet: text.into(),
            timestamp_ms: 0,
        }
    }

    #[tokio::test]
    async fn excludes_the_current_session_and_respects_limit() {
        let tool = SessionSearchTool::new(Arc::new(Fixed(vec![
            hit("now", "x"),
            hit("a", "[Paris] one"),
            hit("b", "[Paris] two"),
        ])));
        let ctx = ToolContext { session_id: Some("now".into()), ..Default::default() };
        let out: serde_json::Value =
            serde_json::from_str(&tool.call(json!({"query": "Paris", "limit": 1}), &ctx).await.unwrap()).unwrap();
        let results = out["results"].as_array().unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["session_id"], "a");
        assert_eq!(results[0]["snippet"], "[Paris] one");
    }

    #[tokio::test]
    async fn empty_query_and_no_hits() {
        let tool = SessionSearchTool::new(Arc::new(Fixed(vec![])));
        assert!(tool.call(json!({"query": "  "}), &ToolContext::default()).await.is_err());
        assert!(tool.call(json!({}), &ToolContext::default()).await.is_err());
        assert_eq!(
            tool.call(json!({"query": "zz"}), &ToolContext::default()).await.unwrap(),
            "No past messages match `zz`."
        );
    }
}
