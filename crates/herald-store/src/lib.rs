//! Durable state behind one [`Store`] API.
//!
//! SQLite is the default backend ([`SqliteStore`]); the trait exists so that a
//! PostgreSQL backend can follow without touching callers.

mod sqlite;
mod types;

pub use sqlite::{SqliteOptions, SqliteStore, WriterStats};
pub use types::*;

use async_trait::async_trait;
use herald_core::{Usage, is_path_unsafe};

/// Everything the rest of herald may ask of durable storage.
///
/// Writes are durable when the returned future resolves. Implementations batch
/// concurrent writes into shared commits; reads never wait for the writer.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a session with the id in `new.id`, or a fresh one
    /// (`YYYYmmdd_HHMMSS_<8 hex>`, local time). An id in use is
    /// [`StoreError::SessionExists`]; an unusable one [`StoreError::InvalidInput`].
    async fn create_session(&self, new: NewSession) -> Result<SessionRecord, StoreError>;

    /// The session with this id, if any.
    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The most recently updated session for this routing key that has not ended.
    async fn latest_session_for_key(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Sessions, most recently updated first, one page at a time.
    async fn list_sessions(&self, query: SessionListQuery) -> Result<SessionList, StoreError>;

    /// Changes the lifecycle flags or title of a session; `None` fields are left alone.
    /// Does not move `updated_at`, which tracks conversation activity.
    async fn update_session(&self, id: &str, patch: SessionPatch) -> Result<(), StoreError>;

    /// Marks a session ended with a reason (`session_reset`, `new_session`, ...).
    /// Ending an already ended session keeps the first end time and reason.
    async fn end_session(&self, id: &str, reason: &str) -> Result<(), StoreError>;

    /// Appends the messages of one turn and adds `usage` to the session's counters, in
    /// one write. Returns the new message ids in order.
    ///
    /// Also counts the messages and the assistant's tool calls, records
    /// `last_prompt_tokens` (when given) as the context fill, and moves `updated_at`.
    async fn append_turn(
        &self,
        session_id: &str,
        messages: Vec<NewMessage>,
        usage: Usage,
        last_prompt_tokens: Option<u64>,
    ) -> Result<Vec<i64>, StoreError>;

    /// Starts a turn in one write: creates the session `session.id` (required) unless it
    /// exists, then appends `messages` (usually the user's message). The other fields of
    /// `session` only matter when it is created.
    async fn open_turn(&self, session: NewSession, messages: Vec<NewMessage>) -> Result<OpenedTurn, StoreError>;

    /// Deletes a session, its messages and their search entries; sessions forked from it
    /// lose their parent. `false` when there was no such session.
    async fn delete_session(&self, id: &str) -> Result<bool, StoreError>;

    /// Ends `id` with reason `branched` and creates a child session (`parent_session_id`
    /// = `id`) holding a copy of its active messages, in one write. Returns the child.
    async fn fork_session(&self, id: &str) -> Result<SessionRecord, StoreError>;

    /// Stores a response object (JSON text) under `id`, replacing an earlier one, and
    /// moves the head of the named `conversation` to it. The least recently used
    /// responses beyond the configured maximum are deleted, with the conversation heads
    /// that pointed at them.
    async fn put_response(&self, id: &str, data: String, conversation: Option<&str>) -> Result<(), StoreError>;

    /// The stored response `id` (JSON text), which counts as a use of it.
    async fn response(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Deletes a stored response; `false` when there was none.
    async fn delete_response(&self, id: &str) -> Result<bool, StoreError>;

    /// The response id at the head of a named conversation.
    async fn conversation_head(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// The active messages of a session, oldest first. An unknown session is
    /// [`StoreError::SessionNotFound`].
    async fn messages(&self, session_id: &str) -> Result<Vec<StoredMessage>, StoreError>;

    /// Full-text search across every session's active messages. Empty text is
    /// [`StoreError::InvalidInput`]; any other text, FTS5 syntax included, is searched
    /// for literally.
    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError>;
}

/// Whether `id` may be used as a session id: not empty, at most [`MAX_SESSION_ID_LEN`]
/// characters, no control characters, and nothing that could escape a directory when
/// the id becomes a file name (Hermes's `_is_path_unsafe`).
pub fn check_session_id(id: &str) -> Result<(), StoreError> {
    if id.trim().is_empty() {
        return Err(StoreError::InvalidInput("a session id cannot be empty".into()));
    }
    let length = id.chars().count();
    if length > MAX_SESSION_ID_LEN {
        return Err(StoreError::InvalidInput(format!(
            "a session id may have at most {MAX_SESSION_ID_LEN} characters, this one has {length}"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput("a session id cannot contain control characters".into()));
    }
    if is_path_unsafe(id) {
        return Err(StoreError::InvalidInput(format!(
            "`{id}` is not a usable session id: it may not contain `/`, `\\`, `..` or start with a drive letter"
        )));
    }
    Ok(())
}
