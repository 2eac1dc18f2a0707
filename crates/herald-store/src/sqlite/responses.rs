//! Stored API responses (`/v1/responses` with `store: true`) and named conversations,
//! kept as a least-recently-used set of bounded size, as Hermes's `response_store.db`.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::now_ms;
use crate::StoreError;

/// Stores `data` (JSON text) under `id`, replacing an earlier version, moves the head of
/// `conversation` to it, and evicts the least recently used responses beyond `keep`.
pub(crate) fn put_response(
    conn: &Connection,
    id: &str,
    data: &str,
    conversation: Option<&str>,
    keep: usize,
) -> Result<(), StoreError> {
    if id.trim().is_empty() {
        return Err(StoreError::InvalidInput("a response id cannot be empty".into()));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(data) {
        return Err(StoreError::InvalidInput(format!("the response `{id}` is not valid JSON: {e}")));
    }
    if conversation.is_some_and(|name| name.trim().is_empty()) {
        return Err(StoreError::InvalidInput("a conversation name cannot be empty".into()));
    }
    let at = next_access(conn)?;
    conn.prepare_cached(
        "INSERT INTO responses (id, data, accessed_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, accessed_at = excluded.accessed_at",
    )?
    .execute(params![id, data, at])?;
    if let Some(name) = conversation {
        conn.prepare_cached(
            "INSERT INTO conversations (name, response_id) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET response_id = excluded.response_id",
        )?
        .execute(params![name, id])?;
    }
    evict(conn, keep)
}

/// The response stored under `id`, marking it as just used.
pub(crate) fn touch_response(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    let at = next_access(conn)?;
    Ok(conn
        .prepare_cached("UPDATE responses SET accessed_at = ?2 WHERE id = ?1 RETURNING data")?
        .query_row(params![id, at], |row| row.get(0))
        .optional()?)
}

/// Deletes a response and the conversation heads pointing at it; `false` when there was none.
pub(crate) fn delete_response(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    let deleted = conn.prepare_cached("DELETE FROM responses WHERE id = ?1")?.execute([id])?;
    conn.prepare_cached("DELETE FROM conversations WHERE response_id = ?1")?.execute([id])?;
    Ok(deleted > 0)
}

/// A use time later than every stored one, even within the same millisecond: eviction
/// order must follow use order exactly. Only the writer thread calls this, so no two
/// writes draw the same value.
fn next_access(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(coalesce(max(accessed_at), 0) + 1, ?1) FROM responses")?
        .query_row([now_ms()], |row| row.get(0))?)
}

fn evict(conn: &Connection, keep: usize) -> Result<(), StoreError> {
    let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
    let evicted: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM responses WHERE id IN \
             (SELECT id FROM responses ORDER BY accessed_at DESC LIMIT -1 OFFSET ?1) RETURNING id",
        )?
        .query_map([keep], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if !evicted.is_empty() {
        let mut forget = conn.prepare_cached("DELETE FROM conversations WHERE response_id = ?1")?;
        for id in &evicted {
            forget.execute([id])?;
        }
        tracing::debug!(count = evicted.len(), "evicted least recently used stored responses");
    }
    Ok(())
}
