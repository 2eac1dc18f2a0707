//! Gives the agent's `session_search` tool the store's full-text search.

use std::sync::Arc;

use async_trait::async_trait;
use herald_agent::tools::{TranscriptHit, TranscriptSearch};
use herald_store::{SearchMode, SearchQuery, Store};

/// [`TranscriptSearch`] over a [`Store`].
pub struct StoreTranscriptSearch {
    store: Arc<dyn Store>,
}

impl StoreTranscriptSearch {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreTranscriptSearch { store }
    }
}

#[async_trait]
impl TranscriptSearch for StoreTranscriptSearch {
    async fn search(&self, query: &str, limit: u32) -> Result<Vec<TranscriptHit>, String> {
        let hits = self
            .store
            .search(SearchQuery { text: query.to_string(), mode: SearchMode::Auto, limit, session_id: None })
            .await
            .map_err(|e| e.to_string())?;
        Ok(hits
            .into_iter()
            .map(|h| TranscriptHit {
                session_id: h.session_id,
                session_title: h.session_title,
                role: h.role,
                snippet: h.snippet,
                timestamp_ms: h.timestamp,
            })
            .collect())
    }
}
