//! Reads: a small pool of read-only connections used from the blocking pool, and the
//! queries they run.
//!
//! In WAL mode a reader sees the last committed state and never waits for the writer,
//! so reads get their own connections rather than a place in the writer's queue.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, ffi};

use super::open::open_reader;
use super::rows::{MESSAGE_COLUMNS, SESSION_COLUMNS, message_from_row, session_from_row};
use crate::{SessionList, SessionListQuery, SessionRecord, StoreError, StoredMessage};

/// Idle read connections, reused so that a read costs no `open`.
pub(crate) struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
    /// Reads running at once. Without a bound, a burst of reads took one blocking
    /// thread and one new connection (with its own page cache) each: hundreds of
    /// threads and over 100 MiB under load. With it, reads wait their turn and every
    /// read reuses one of `max_idle` connections.
    running: Arc<tokio::sync::Semaphore>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration, max_idle: usize) -> ReadPool {
        let max_idle = max_idle.max(1);
        let running = Arc::new(tokio::sync::Semaphore::new(max_idle));
        ReadPool { path, busy_timeout, max_idle, idle: Mutex::new(Vec::new()), running }
    }

    /// Runs `read` on a pooled connection on tokio's blocking pool, at most `max_idle`
    /// at once.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Arc::clone(self);
        // The semaphore is never closed, so acquiring only waits.
        let turn = Arc::clone(&self.running).acquire_owned().await.ok();
        // The permit moves into the closure: a read whose caller gave up still holds
        // its place until it is done.
        let blocking = move || {
            let _turn = turn;
            pool.with_connection(read)
        };
        match tokio::task::spawn_blocking(blocking).await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_INTERRUPT),
                Some("the read was cancelled because the runtime is shutting down".into()),
            ))),
        }
    }

    /// Runs `read` on a pooled connection on the current thread.
    pub(crate) fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A panic while the lock was held cannot leave the Vec half-changed.
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.path, self.busy_timeout)?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
        result
    }
}

pub(crate) fn session(conn: &Connection, id: &str) -> Result<Option<SessionRecord>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], session_from_row).optional()?)
}

pub(crate) fn latest_session_for_key(conn: &Connection, key: &str) -> Result<Option<SessionRecord>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE session_key = ?1 AND ended_at IS NULL \
         ORDER BY updated_at DESC, id DESC LIMIT 1"
    );
    Ok(conn.prepare_cached(&sql)?.query_row([key], session_from_row).optional()?)
}

pub(crate) fn list_sessions(conn: &Connection, query: &SessionListQuery) -> Result<SessionList, StoreError> {
    // Separate statements per filter rather than `?3 IS NULL OR platform = ?3`, which
    // would keep the planner from using the platform index.
    let mut conditions = Vec::new();
    if query.platform.is_some() {
        conditions.push("platform = ?3");
    }
    if !query.include_children {
        conditions.push("parent_session_id IS NULL");
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let sql =
        format!("SELECT {SESSION_COLUMNS} FROM sessions {filter} ORDER BY updated_at DESC, id DESC LIMIT ?1 OFFSET ?2");
    // One row more than asked for tells whether another page exists.
    let fetch = i64::from(query.limit) + 1;
    let mut statement = conn.prepare_cached(&sql)?;
    let mut sessions = match &query.platform {
        Some(platform) => statement
            .query_map(rusqlite::params![fetch, query.offset, platform], session_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        None => statement
            .query_map(rusqlite::params![fetch, query.offset], session_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    let has_more = sessions.len() > query.limit as usize;
    sessions.truncate(query.limit as usize);
    Ok(SessionList { sessions, has_more })
}

pub(crate) fn messages(conn: &Connection, session_id: &str) -> Result<Vec<StoredMessage>, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ?1 AND active = 1 ORDER BY id");
    let messages =
        conn.prepare_cached(&sql)?.query_map([session_id], message_from_row)?.collect::<Result<Vec<_>, _>>()?;
    // Only an empty answer needs the second look: a session with messages exists.
    if messages.is_empty() && session(conn, session_id)?.is_none() {
        return Err(StoreError::SessionNotFound(session_id.to_owned()));
    }
    Ok(messages)
}

pub(crate) fn conversation_head(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT response_id FROM conversations WHERE name = ?1")?
        .query_row([name], |row| row.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_runs_at_most_max_idle_at_once_on_reused_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(super::super::open::open_writer(&path, Duration::from_secs(1)).unwrap());
        let pool = Arc::new(ReadPool::new(path, Duration::from_secs(1), 2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads = (0..40).map(|_| {
            let (pool, now, most) = (pool.clone(), now.clone(), most.clone());
            tokio::spawn(async move {
                pool.read(move |conn| {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)
                })
                .await
            })
        });
        for read in futures_join(reads.collect()).await {
            assert_eq!(read.unwrap().unwrap(), 1);
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "at most 2 at once, saw {}", most.load(Ordering::SeqCst));
        assert!(pool.idle.lock().unwrap().len() <= 2, "connections reused, not piled up");
    }

    async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await);
        }
        out
    }
}
