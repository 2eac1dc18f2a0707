//! The SQLite backend: one writer thread that commits in batches, a pool of WAL
//! readers, and FTS5 indexes for search.

mod adapter_state;
mod checkpoint;
mod inbound;
mod indexer;
mod migrations;
mod open;
mod outbox;
mod pairing;
mod read;
mod responses;
mod rows;
mod search;
mod write_ops;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::Usage;

use self::checkpoint::Checkpointer;
use self::indexer::Indexer;
use self::read::ReadPool;
pub use self::rows::new_session_id;
use self::writer::Writer;
use crate::{
    ApprovedUser, GatewayPruned, InboundRecorded, InboundRow, NewInbound, NewMessage, NewOutbound, NewSession,
    OpenedTurn, OutboundRow, PairingList, PairingRequest, SearchHit, SearchQuery, SessionList, SessionListQuery,
    SessionPatch, SessionRecord, Store, StoreError, StoredMessage, TimestampMs,
};

/// Tuning for [`SqliteStore::open_with`]. The defaults suit a gateway on a small machine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// The most writes committed in one transaction.
    pub max_batch: usize,
    /// Writes that may wait for the writer before callers are held back.
    pub queue_depth: usize,
    /// Read connections kept open, which is also the most reads that run at once
    /// (more wait their turn).
    pub idle_readers: usize,
    /// Stored API responses kept; beyond it the least recently used are deleted.
    /// Hermes keeps 100; a chain of `previous_response_id` breaks when its head is
    /// evicted, so herald keeps more.
    pub max_responses: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            max_batch: 256,
            queue_depth: 1024,
            idle_readers: 4,
            max_responses: 1000,
        }
    }
}

/// Counters of the writer thread since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed or attempted.
    pub batches: u64,
    /// Write operations in those transactions, failed ones included.
    pub writes: u64,
    /// Transactions that failed as a whole (every write in them got the error).
    pub failed_batches: u64,
}

/// The SQLite implementation of [`Store`].
///
/// Writes go to one dedicated thread that owns the only write connection and commits
/// every write queued at that moment in one transaction, so concurrent turns share
/// commits. Reads run on tokio's blocking pool over their own WAL connections and
/// never wait for the writer. Every method therefore needs a tokio runtime.
///
/// Dropping the store stops the writer once the writes already queued are committed;
/// [`SqliteStore::close`] does the same and waits for it.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReadPool>,
    max_responses: usize,
    indexer: Indexer,
    // Declared after the writer so it stops after it; the write connection's close
    // then checkpoints whatever is left.
    _checkpointer: Checkpointer,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The schema version this build creates and understands.
    pub const SCHEMA_VERSION: u32 = migrations::SCHEMA_VERSION;

    /// Opens the database at `path` with default [`SqliteOptions`]; see [`SqliteStore::open_with`].
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens the database at `path`, creating it (and its directory) if missing, and
    /// migrates it to [`SqliteStore::SCHEMA_VERSION`].
    ///
    /// This blocks for as long as the migrations take (milliseconds for an up-to-date
    /// database); call it at startup or from `spawn_blocking`. A new file is created
    /// with mode 0600, and an existing one is tightened to it.
    ///
    /// # Errors
    ///
    /// - [`StoreError::Open`] when the path cannot be created or read, or holds a file
    ///   that is not a SQLite database; such a file is left untouched.
    /// - [`StoreError::TooNew`] when the schema is newer than this build; nothing is
    ///   written.
    /// - [`StoreError::Migration`] when a migration fails; the database stays at the
    ///   last version that fully applied.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let conn = open::open_writer(path, options.busy_timeout)?;
        let writer = Writer::spawn(conn, options.max_batch, options.queue_depth).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: format!("cannot start the writer thread: {e}"),
        })?;
        // The index opens (or is rebuilt) on its own thread, not in the way of startup.
        let indexer = Indexer::spawn(path, options.busy_timeout, writer.commit_counter())?;
        let readers = Arc::new(ReadPool::new(path.to_path_buf(), options.busy_timeout, options.idle_readers));
        // Open one reader now: a problem with read connections should surface at
        // startup, not on the first search.
        readers.with_connection(|_| Ok(()))?;
        let checkpointer =
            Checkpointer::spawn(path, options.busy_timeout, writer.commit_counter()).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                reason: format!("cannot start the checkpoint thread: {e}"),
            })?;
        tracing::debug!(path = %path.display(), "opened store");
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            readers,
            max_responses: options.max_responses,
            indexer,
            _checkpointer: checkpointer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The search index's own database file beside the store at `store` (its path with
    /// `-search` appended). It holds only derived data: deleted, it is rebuilt from the
    /// messages the next time the store opens.
    pub fn search_index_path(store: &Path) -> PathBuf {
        indexer::index_path(store)
    }

    /// How the writer has batched the writes so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// Commits the writes already queued, then closes the write connection (which
    /// checkpoints the WAL into the main file), and leaves the search index up to date,
    /// so the next start searches without catching up first.
    pub async fn close(self) {
        let SqliteStore { writer, indexer, _checkpointer, .. } = self;
        drop(_checkpointer);
        join("writer", writer.close()).await;
        // Only now: the index's last catch-up must see the writer's last commit.
        join("search index", indexer.close()).await;
    }
}

async fn join(name: &str, thread: Option<std::thread::JoinHandle<()>>) {
    let Some(thread) = thread else { return };
    match tokio::task::spawn_blocking(move || thread.join()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => tracing::error!("the store {name} thread panicked"),
        Err(error) => tracing::error!(%error, "could not wait for the store {name} thread"),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_session(&self, new: NewSession) -> Result<SessionRecord, StoreError> {
        self.writer.submit(move |conn| write_ops::create_session(conn, &new)).await
    }

    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.to_owned();
        self.readers.read(move |conn| read::session(conn, &id)).await
    }

    async fn latest_session_for_key(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let key = key.to_owned();
        self.readers.read(move |conn| read::latest_session_for_key(conn, &key)).await
    }

    async fn list_sessions(&self, query: SessionListQuery) -> Result<SessionList, StoreError> {
        self.readers.read(move |conn| read::list_sessions(conn, &query)).await
    }

    async fn update_session(&self, id: &str, patch: SessionPatch) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.writer.submit(move |conn| write_ops::update_session(conn, &id, &patch)).await
    }

    async fn end_session(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.writer.submit(move |conn| write_ops::end_session(conn, &id, &reason)).await
    }

    async fn append_turn(
        &self,
        session_id: &str,
        messages: Vec<NewMessage>,
        usage: Usage,
        last_prompt_tokens: Option<u64>,
    ) -> Result<Vec<i64>, StoreError> {
        let session_id = session_id.to_owned();
        self.writer
            .submit(move |conn| write_ops::append_turn(conn, &session_id, &messages, &usage, last_prompt_tokens))
            .await
    }

    async fn open_turn(&self, session: NewSession, messages: Vec<NewMessage>) -> Result<OpenedTurn, StoreError> {
        // Refused before queueing: a bad id is the caller's mistake, not the batch's.
        if let Some(id) = &session.id {
            crate::check_session_id(id)?;
        }
        self.writer.submit(move |conn| write_ops::open_turn(conn, &session, &messages)).await
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.writer.submit(move |conn| write_ops::delete_session(conn, &id)).await
    }

    async fn fork_session(&self, id: &str) -> Result<SessionRecord, StoreError> {
        let id = id.to_owned();
        self.writer.submit(move |conn| write_ops::fork_session(conn, &id)).await
    }

    async fn rewind_session(&self, session_id: &str, from_message_id: i64) -> Result<u64, StoreError> {
        let session_id = session_id.to_owned();
        self.writer.submit(move |conn| write_ops::rewind_session(conn, &session_id, from_message_id)).await
    }

    async fn put_response(&self, id: &str, data: String, conversation: Option<&str>) -> Result<(), StoreError> {
        let (id, conversation, keep) = (id.to_owned(), conversation.map(str::to_owned), self.max_responses);
        self.writer.submit(move |conn| responses::put_response(conn, &id, &data, conversation.as_deref(), keep)).await
    }

    async fn response(&self, id: &str) -> Result<Option<String>, StoreError> {
        let id = id.to_owned();
        // A write, not a read: using a response refreshes its place in the eviction order.
        self.writer.submit(move |conn| responses::touch_response(conn, &id)).await
    }

    async fn delete_response(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.writer.submit(move |conn| responses::delete_response(conn, &id)).await
    }

    async fn conversation_head(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.readers.read(move |conn| read::conversation_head(conn, &name)).await
    }

    async fn messages(&self, session_id: &str) -> Result<Vec<StoredMessage>, StoreError> {
        let session_id = session_id.to_owned();
        self.readers.read(move |conn| read::messages(conn, &session_id)).await
    }

    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        // Refused before taking a connection: empty text is the caller's mistake.
        search::validated_text(&query)?;
        // The index thread brings the index up to date first, so the search sees every
        // message committed before it.
        self.indexer.search(query).await
    }

    async fn record_inbound(&self, new: NewInbound) -> Result<InboundRecorded, StoreError> {
        self.writer.submit(move |conn| inbound::record_inbound(conn, &new)).await
    }

    async fn record_inbound_many(
        &self,
        new: Vec<NewInbound>,
    ) -> Result<Vec<Result<InboundRecorded, StoreError>>, StoreError> {
        self.writer.submit(move |conn| inbound::record_inbound_many(conn, &new)).await
    }

    async fn pending_inbound(&self, platform: &str) -> Result<Vec<InboundRow>, StoreError> {
        let platform = platform.to_owned();
        self.readers.read(move |conn| inbound::pending_inbound(conn, &platform)).await
    }

    async fn inbound(&self, id: i64) -> Result<Option<InboundRow>, StoreError> {
        self.readers.read(move |conn| inbound::inbound(conn, id)).await
    }

    async fn start_inbound(&self, id: i64, session_id: &str) -> Result<(), StoreError> {
        let session_id = session_id.to_owned();
        self.writer.submit(move |conn| inbound::start_inbound(conn, id, &session_id)).await
    }

    async fn finish_inbound(&self, id: i64, outcome: &str) -> Result<(), StoreError> {
        let outcome = outcome.to_owned();
        self.writer.submit(move |conn| inbound::finish_inbound(conn, id, &outcome)).await
    }

    async fn open_inbound_turn(
        &self,
        inbound_id: i64,
        session: NewSession,
        messages: Vec<NewMessage>,
    ) -> Result<OpenedTurn, StoreError> {
        if let Some(id) = &session.id {
            crate::check_session_id(id)?;
        }
        self.writer
            .submit(move |conn| {
                let opened = write_ops::open_turn(conn, &session, &messages)?;
                inbound::start_inbound(conn, inbound_id, &opened.session.id)?;
                Ok(opened)
            })
            .await
    }

    async fn prune_gateway_log(&self, before: TimestampMs) -> Result<GatewayPruned, StoreError> {
        self.writer
            .submit(move |conn| {
                Ok(GatewayPruned {
                    inbound: inbound::prune_finished(conn, before)?,
                    outbound: outbox::prune_done(conn, before)?,
                })
            })
            .await
    }

    async fn enqueue_outbound(
        &self,
        items: Vec<NewOutbound>,
        finish_inbound: Option<(i64, String)>,
    ) -> Result<Vec<i64>, StoreError> {
        self.writer.submit(move |conn| outbox::enqueue_outbound(conn, &items, finish_inbound.as_ref())).await
    }

    async fn due_outbound(
        &self,
        platform: &str,
        account: Option<&str>,
        now: TimestampMs,
        limit: u32,
    ) -> Result<Vec<OutboundRow>, StoreError> {
        let (platform, account) = (platform.to_owned(), account.map(str::to_owned));
        self.readers.read(move |conn| outbox::due_outbound(conn, &platform, account.as_deref(), now, limit)).await
    }

    async fn outbound(&self, id: i64) -> Result<Option<OutboundRow>, StoreError> {
        self.readers.read(move |conn| outbox::outbound(conn, id)).await
    }

    async fn claim_outbound(&self, id: i64) -> Result<Option<OutboundRow>, StoreError> {
        self.writer.submit(move |conn| outbox::claim_outbound(conn, id)).await
    }

    async fn complete_outbound(&self, id: i64, platform_message_id: Option<&str>) -> Result<(), StoreError> {
        let platform_message_id = platform_message_id.map(str::to_owned);
        self.writer.submit(move |conn| outbox::complete_outbound(conn, id, platform_message_id.as_deref())).await
    }

    async fn retry_outbound(&self, id: i64, error: &str, at: TimestampMs) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.writer.submit(move |conn| outbox::retry_outbound(conn, id, &error, at)).await
    }

    async fn fail_outbound(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.writer.submit(move |conn| outbox::fail_outbound(conn, id, &error)).await
    }

    async fn abandon_in_flight(&self, platform: &str, account: Option<&str>) -> Result<Vec<OutboundRow>, StoreError> {
        let (platform, account) = (platform.to_owned(), account.map(str::to_owned));
        self.writer.submit(move |conn| outbox::abandon_in_flight(conn, &platform, account.as_deref())).await
    }

    async fn state_get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.readers.read(move |conn| adapter_state::state_get(conn, &namespace, &key)).await
    }

    async fn state_put(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), value.to_owned());
        self.writer.submit(move |conn| adapter_state::state_put(conn, &namespace, &key, &value)).await
    }

    async fn pairing_request(
        &self,
        platform: &str,
        user_id: &str,
        user_name: Option<&str>,
        now: TimestampMs,
    ) -> Result<PairingRequest, StoreError> {
        let (platform, user_id, user_name) = (platform.to_owned(), user_id.to_owned(), user_name.map(str::to_owned));
        self.writer.submit(move |conn| pairing::request(conn, &platform, &user_id, user_name.as_deref(), now)).await
    }

    async fn pairing_approve(
        &self,
        platform: &str,
        code: &str,
        now: TimestampMs,
    ) -> Result<Option<ApprovedUser>, StoreError> {
        let (platform, code) = (platform.to_owned(), code.to_owned());
        self.writer.submit(move |conn| pairing::approve(conn, &platform, &code, now)).await
    }

    async fn pairing_is_locked_out(&self, platform: &str, now: TimestampMs) -> Result<bool, StoreError> {
        let platform = platform.to_owned();
        self.readers.read(move |conn| pairing::is_locked_out(conn, &platform, now)).await
    }

    async fn pairing_is_approved(&self, platform: &str, user_id: &str) -> Result<bool, StoreError> {
        let (platform, user_id) = (platform.to_owned(), user_id.to_owned());
        self.readers.read(move |conn| pairing::is_approved(conn, &platform, &user_id)).await
    }

    async fn pairing_list(&self, now: TimestampMs) -> Result<PairingList, StoreError> {
        self.readers.read(move |conn| pairing::list(conn, now)).await
    }

    async fn pairing_revoke(&self, platform: &str, user_id: &str) -> Result<bool, StoreError> {
        let (platform, user_id) = (platform.to_owned(), user_id.to_owned());
        self.writer.submit(move |conn| pairing::revoke(conn, &platform, &user_id)).await
    }

    async fn pairing_clear_pending(&self) -> Result<u64, StoreError> {
        self.writer.submit(pairing::clear_pending).await
    }
}
