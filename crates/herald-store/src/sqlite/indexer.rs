//! The search index lives in a database file of its own, kept by a thread of its own.
//!
//! FTS5 merges its index segments as it grows, and a merge step takes 10 to 40 ms at
//! unpredictable moments (measured: 256 messages indexed in 1.4 ms at the median and
//! 19 ms at the 90th percentile). Inside the store's database that work held the one
//! write lock, so every turn queued behind it waited too: under API load at 32 clients,
//! a single write's p99 was 25 ms. In a separate file it has a write lock of its own,
//! and the writer never waits for the index.
//!
//! The index is derived data. It holds a copy of each message's searchable text (FTS5
//! needs it for snippets and deletes) and can be deleted at any time: it is rebuilt from
//! the messages. Deletes and edits reach it through `search_changes`, a log that
//! triggers in the store's database fill and this thread empties, so a deleted session's
//! text leaves the index too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use super::open::{create_private, restrict_companions};
use super::search;
use super::writer::duplicate;
use crate::{SearchHit, SearchQuery, StoreError};

/// The index's own schema version; any other version is rebuilt, not migrated.
const SCHEMA_VERSION: i64 = 1;

/// How often the thread looks for new commits when nobody is searching.
const INTERVAL: Duration = Duration::from_millis(100);

/// Messages indexed per transaction while catching up, so a rebuild of a large store
/// commits as it goes instead of holding every text in memory.
const CHUNK: i64 = 4_096;

const SCHEMA: &str = r#"
CREATE TABLE search_text (
    id      INTEGER PRIMARY KEY,
    content TEXT NOT NULL
);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    content = 'search_text',
    content_rowid = 'id'
);

CREATE VIRTUAL TABLE messages_fts_trigram USING fts5(
    content,
    content = 'search_text',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TABLE progress (last_id INTEGER NOT NULL, last_change INTEGER NOT NULL);
INSERT INTO progress (last_id, last_change) VALUES (0, 0);
"#;

/// The index file of the store at `store`: the same path with `-search` appended, like
/// SQLite's own `-wal` and `-shm`.
pub(crate) fn index_path(store: &Path) -> PathBuf {
    let mut path = PathBuf::from(store.as_os_str());
    path.as_mut_os_string().push("-search");
    path
}

type SearchReply = oneshot::Sender<Result<Vec<SearchHit>, StoreError>>;

/// A search, run on the index thread once the index has caught up with the store.
struct Request {
    query: SearchQuery,
    reply: SearchReply,
}

/// Handle to the index thread. Dropping it lets the thread index what is left and stop.
pub(crate) struct Indexer {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Starts the thread that opens (creating or rebuilding as needed) the index of the
    /// store at `store` and keeps it up to date whenever `commits` moves. Opening happens
    /// on that thread, so a rebuild never holds up startup.
    pub(crate) fn spawn(store: &Path, busy_timeout: Duration, commits: Arc<AtomicU64>) -> Result<Indexer, StoreError> {
        let (requests, receiver) = mpsc::channel();
        let store_path = store.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("herald-store-index".into())
            .spawn(move || run(&store_path, busy_timeout, &receiver, &commits))
            .map_err(|e| StoreError::Open {
                path: index_path(store).display().to_string(),
                reason: format!("cannot start the search index thread: {e}"),
            })?;
        Ok(Indexer { requests: Some(requests), thread: Some(thread) })
    }

    /// Runs `query` once every message committed before the call is in the index.
    pub(crate) async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.requests.as_ref().ok_or(StoreError::WriterGone)?;
        sender.send(Request { query, reply }).map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Stops the thread after a last catch-up and returns it to be joined.
    pub(crate) fn close(mut self) -> Option<JoinHandle<()>> {
        self.requests.take();
        self.thread.take()
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        // Closing the channel is the stop signal; the thread is not joined here, so a
        // store dropped inside the runtime never blocks it.
        self.requests.take();
    }
}

fn open_error(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Open { path: path.display().to_string(), reason: reason.into() }
}

/// Opens the index with the store attached as `store`. An index that is unreadable, of
/// another schema version, or ahead of the store (the store was restored from an older
/// copy) is deleted and built again.
fn open_index(store: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let path = index_path(store);
    create_private(&path)?;
    match try_open(store, &path, busy_timeout) {
        Ok(Some(conn)) => return Ok(conn),
        Ok(None) => tracing::info!(path = %path.display(), "search index does not match the store; rebuilding it"),
        Err(error) => tracing::warn!(path = %path.display(), %error, "search index unreadable; rebuilding it"),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = PathBuf::from(path.as_os_str());
        file.as_mut_os_string().push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_error(&file, format!("cannot remove the old search index: {e}"))),
        }
    }
    create_private(&path)?;
    try_open(store, &path, busy_timeout)
        .map_err(|e| open_error(&path, format!("cannot create the search index: {e}")))?
        .ok_or_else(|| open_error(&path, "the new search index does not match the store"))
}

/// `None` when the file opened but must be rebuilt.
fn try_open(store: &Path, path: &Path, busy_timeout: Duration) -> Result<Option<Connection>, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute("ATTACH DATABASE ?1 AS store", [store.to_string_lossy()])?;
    conn.set_prepared_statement_cache_capacity(16);
    if version == 0 && tables == 0 {
        conn.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))?;
    } else if version != SCHEMA_VERSION {
        return Ok(None);
    }
    let (last_id, _) = progress(&conn)?;
    // The highest message id the store ever handed out (AUTOINCREMENT never reuses one).
    let issued: i64 = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM store.sqlite_sequence WHERE name = 'messages'", [], |r| r.get(0))
        .unwrap_or(0);
    if last_id > issued {
        return Ok(None);
    }
    restrict_companions(path);
    Ok(Some(conn))
}

fn progress(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached("SELECT last_id, last_change FROM progress")?.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
}

fn run(store: &Path, busy_timeout: Duration, requests: &mpsc::Receiver<Request>, commits: &AtomicU64) {
    let mut conn = None;
    let mut seen = u64::MAX;
    // An index that cannot open is retried on every commit; said once, not ten times a second.
    let mut reported = false;
    loop {
        let first = requests.recv_timeout(INTERVAL);
        let stopping = matches!(first, Err(RecvTimeoutError::Disconnected));
        // Every search that queued meanwhile is served after the same catch-up.
        let waiting: Vec<Request> = first.into_iter().chain(std::iter::from_fn(|| requests.try_recv().ok())).collect();
        let now = commits.load(Ordering::Acquire);
        if waiting.is_empty() && !stopping && now == seen {
            continue;
        }
        seen = now;
        // Opened here rather than before the loop, so an index that could not be opened
        // (a full disk, a read-only directory) is tried again on the next search.
        if conn.is_none() {
            conn = match open_index(store, busy_timeout) {
                Ok(conn) => Some(conn),
                Err(error) => {
                    if !reported {
                        tracing::error!(%error, "cannot open the search index; searches fail until it opens");
                        reported = true;
                    }
                    for request in waiting {
                        let _ = request.reply.send(Err(StoreError::Open {
                            path: index_path(store).display().to_string(),
                            reason: error.to_string(),
                        }));
                    }
                    if stopping {
                        return;
                    }
                    continue;
                }
            };
        }
        let Some(conn) = conn.as_mut() else { continue };
        let caught_up = catch_up(conn);
        if let Err(error) = &caught_up {
            tracing::warn!(%error, "could not update the search index; it will be retried");
        }
        for Request { query, reply } in waiting {
            let result = match &caught_up {
                Ok(()) => search::search(conn, &query),
                Err(e) => Err(StoreError::Sqlite(duplicate(e))),
            };
            let _ = reply.send(result);
        }
        if stopping {
            tracing::debug!("search index thread stopped: the store was closed");
            return;
        }
    }
}

/// Brings the index up to the store's last commit: removes and re-adds the messages the
/// change log names, then adds the new ones, a chunk per transaction.
fn catch_up(conn: &mut Connection) -> rusqlite::Result<()> {
    let mut changed = false;
    loop {
        // DEFERRED, not IMMEDIATE: IMMEDIATE would take the write lock of the attached
        // store too, the very wait this file exists to avoid. One transaction reads one
        // snapshot of the store, so the change log and the messages agree.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let (last_id, last_change) = progress(&tx)?;
        let newest_change: i64 =
            tx.prepare_cached("SELECT coalesce(max(seq), 0) FROM store.search_changes")?.query_row([], |r| r.get(0))?;
        if newest_change > last_change {
            apply_changes(&tx, last_id, last_change, newest_change)?;
            changed = true;
        }
        let newest: i64 = tx
            .prepare_cached("SELECT coalesce(max(id), 0) FROM store.messages WHERE id > ?1")?
            .query_row([last_id], |r| r.get(0))?;
        let upper = newest.min(last_id.saturating_add(CHUNK));
        if upper > last_id {
            tx.prepare_cached(
                "INSERT INTO search_text(id, content) \
                 SELECT id, content FROM store.messages_search_text WHERE id > ?1 AND id <= ?2",
            )?
            .execute([last_id, upper])?;
            index_range(&tx, last_id, upper)?;
        }
        tx.prepare_cached("UPDATE progress SET last_id = ?1, last_change = ?2")?
            .execute([upper.max(last_id), newest_change.max(last_change)])?;
        tx.commit()?;
        if upper >= newest {
            break;
        }
    }
    if changed {
        prune_changes(conn);
    }
    Ok(())
}

/// Both FTS5 indexes learn the rows of `search_text` in (`after`, `upto`], one statement
/// each: FTS5 writes a segment per statement, so row by row would cost one per message.
fn index_range(conn: &Connection, after: i64, upto: i64) -> rusqlite::Result<()> {
    for table in ["messages_fts", "messages_fts_trigram"] {
        conn.prepare_cached(&format!(
            "INSERT INTO {table}(rowid, content) SELECT id, content FROM search_text WHERE id > ?1 AND id <= ?2"
        ))?
        .execute([after, upto])?;
    }
    Ok(())
}

/// Removes every logged message from the index, then indexes again those that still
/// exist and were indexed before (newer ones are added with their current text anyway).
fn apply_changes(conn: &Connection, last_id: i64, after: i64, upto: i64) -> rusqlite::Result<()> {
    const LOGGED: &str = "SELECT message_id FROM store.search_changes WHERE seq > ?1 AND seq <= ?2";
    for table in ["messages_fts", "messages_fts_trigram"] {
        // FTS5 must be told the text it indexed, which `search_text` still holds.
        conn.prepare_cached(&format!(
            "INSERT INTO {table}({table}, rowid, content) \
             SELECT 'delete', id, content FROM search_text WHERE id IN ({LOGGED})"
        ))?
        .execute([after, upto])?;
    }
    conn.prepare_cached(&format!("DELETE FROM search_text WHERE id IN ({LOGGED})"))?.execute([after, upto])?;
    conn.prepare_cached(&format!(
        "INSERT INTO search_text(id, content) \
         SELECT id, content FROM store.messages_search_text WHERE id <= ?3 AND id IN ({LOGGED})"
    ))?
    .execute([after, upto, last_id])?;
    for table in ["messages_fts", "messages_fts_trigram"] {
        conn.prepare_cached(&format!(
            "INSERT INTO {table}(rowid, content) SELECT id, content FROM search_text WHERE id IN ({LOGGED})"
        ))?
        .execute([after, upto])?;
    }
    Ok(())
}

/// Empties the part of the change log the index has applied. This writes to the store's
/// database, but only after deletes and edits, which are rare; if the writer holds the
/// lock for longer than the busy timeout, the rows wait for the next time.
fn prune_changes(conn: &Connection) {
    let pruned = progress(conn)
        .and_then(|(_, last_change)| conn.execute("DELETE FROM store.search_changes WHERE seq <= ?1", [last_change]));
    if let Err(error) = pruned {
        tracing::debug!(%error, "could not prune the search change log; it will be pruned later");
    }
}
