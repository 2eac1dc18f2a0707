//! Durable state behind one [`Store`] API.
//!
//! SQLite is the default backend ([`SqliteStore`]); the trait exists so that a
//! PostgreSQL backend can follow without touching callers.

mod sqlite;
mod types;

pub use sqlite::{SqliteOptions, SqliteStore, WriterStats};
pub use types::*;

use async_trait::async_trait;
use herald_core::Usage;

/// Everything the rest of herald may ask of durable storage.
///
/// Writes are durable when the returned future resolves. Implementations batch
/// concurrent writes into shared commits; reads never wait for the writer.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a session with a fresh id (`YYYYmmdd_HHMMSS_<8 hex>`, local time).
    async fn create_session(&self, new: NewSession) -> Result<SessionRecord, StoreError>;

    /// The session with this id, if any.
    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The most recently updated session for this routing key that has not ended.
    async fn latest_session_for_key(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Sessions, most recently updated first.
    async fn list_sessions(&self, query: SessionListQuery) -> Result<Vec<SessionRecord>, StoreError>;

    /// Changes the lifecycle flags or title of a session; `None` fields are left alone.
    /// Does not move `updated_at`, which tracks conversation activity.
    async fn update_session(&self, id: &str, patch: SessionPatch) -> Result<(), StoreError>;

    /// Marks a session ended with a reason (`session_reset`, `new_session`, ...).
    /// Ending an already ended session keeps the first end time and reason.
    async fn end_session(&self, id: &str, reason: &str) -> Result<(), StoreError>;

    /// Appends the messages of one turn and adds `usage` to the session's counters, in
    /// one transaction. Returns the new message ids in order.
    ///
    /// Also counts the messages and the assistant's tool calls, records
    /// `usage.input_tokens` (when non-zero) as the context fill, and moves `updated_at`.
    async fn append_turn(
        &self,
        session_id: &str,
        messages: Vec<NewMessage>,
        usage: Usage,
    ) -> Result<Vec<i64>, StoreError>;

    /// The active messages of a session, oldest first. An unknown session is
    /// [`StoreError::SessionNotFound`].
    async fn messages(&self, session_id: &str) -> Result<Vec<StoredMessage>, StoreError>;

    /// Full-text search across every session's active messages. Empty text is
    /// [`StoreError::InvalidInput`]; any other text, FTS5 syntax included, is searched
    /// for literally.
    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError>;
}
