//! The single writer: one OS thread owns the only write connection and commits
//! whatever writes are queued together.
//!
//! SQLite allows one writer at a time and a commit costs far more than the statements
//! in it, so instead of many connections fighting over the write lock, writes are
//! funnelled to one thread that groups them. A batch first runs every write in one
//! plain transaction, since a savepoint around each write costs a statement journal
//! each. Only when a write fails is the batch rolled back and run again with a
//! SAVEPOINT per write, so the failing write rolls back only itself and gets its own
//! error while the others still commit. Replies are sent only after the commit, so a resolved future means the
//! write is in the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior, ffi};
use tokio::sync::{mpsc, oneshot};

use crate::{StoreError, WriterStats};

/// A queued write, type-erased so one channel carries every kind of operation.
trait WriteJob: Send {
    /// Runs the write inside the batch's transaction; `false` if it failed. May run
    /// twice when the batch is retried write by write; the last outcome counts.
    fn run(&mut self, conn: &Connection) -> bool;

    /// Sends the outcome, once the batch has committed (`batch_error` is `None`) or
    /// failed as a whole.
    fn finish(self: Box<Self>, batch_error: Option<&rusqlite::Error>);
}

struct Job<T, F> {
    work: F,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = (self.work)(conn);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, batch_error: Option<&rusqlite::Error>) {
        let result = match (self.outcome, batch_error) {
            // An operation's own failure is the more useful error even when the batch
            // failed too: the operation would have failed alone as well.
            (Some(Err(own)), _) => Err(own),
            (_, Some(batch)) => Err(StoreError::Sqlite(duplicate(batch))),
            (Some(Ok(value)), None) => Ok(value),
            // Every job of a batch runs unless the batch fails, so this is unreachable;
            // the caller still gets an answer rather than a hang.
            (None, None) => Err(StoreError::WriterGone),
        };
        // The caller may have stopped waiting; the write stands either way.
        let _ = self.reply.send(result);
    }
}

/// The handle the store keeps: submits writes and, on close, waits for the thread.
pub(crate) struct Writer {
    sender: mpsc::Sender<Box<dyn WriteJob>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

/// Updated by the writer thread after each batch; read by anyone.
#[derive(Default)]
struct Counters {
    /// Shared with the checkpointer, which checkpoints when it moves.
    batches: Arc<AtomicU64>,
    writes: AtomicU64,
    failed_batches: AtomicU64,
}

impl Writer {
    /// Starts the writer thread, which owns `conn` from now on.
    pub(crate) fn spawn(conn: Connection, max_batch: usize, queue_depth: usize) -> std::io::Result<Writer> {
        let (sender, receiver) = mpsc::channel(queue_depth.max(1));
        let max_batch = max_batch.max(1);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("herald-store-writer".into())
            .spawn(move || run(conn, receiver, max_batch, &thread_counters))?;
        Ok(Writer { sender, thread: Some(thread), counters })
    }

    /// Counts committed batches; the checkpointer watches it.
    pub(crate) fn commit_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.counters.batches)
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
        }
    }

    /// Queues `work` and waits until the batch holding it has committed.
    ///
    /// A write whose future is dropped after it was queued still happens.
    pub(crate) async fn submit<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Job { work, outcome: None, reply });
        self.sender.send(job).await.map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Stops accepting writes and returns the thread, which exits after committing
    /// everything already queued.
    pub(crate) fn close(mut self) -> Option<JoinHandle<()>> {
        self.thread.take()
    }
}

fn run(mut conn: Connection, mut receiver: mpsc::Receiver<Box<dyn WriteJob>>, max_batch: usize, counters: &Counters) {
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(max_batch);
    // Blocks for the first write, then takes whatever else is already waiting: under
    // load, writes that queued during the previous commit share the next one.
    while receiver.blocking_recv_many(&mut batch, max_batch) > 0 {
        let size = batch.len();
        let batch_error = commit_batch(&mut conn, &mut batch).err();
        if let Some(error) = &batch_error {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, size, "a batch of store writes failed and was rolled back");
        } else {
            tracing::trace!(size, "committed a batch of store writes");
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.writes.fetch_add(size as u64, Ordering::Relaxed);
        for job in batch.drain(..) {
            job.finish(batch_error.as_ref());
        }
    }
    tracing::debug!("store writer stopped: every handle was dropped");
}

fn commit_batch(conn: &mut Connection, batch: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<()> {
    if batch.len() > 1 {
        // IMMEDIATE takes the write lock up front: another process holding it makes us
        // wait (busy_timeout) here, not fail half-way through the batch.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if batch.iter_mut().all(|job| job.run(&tx)) {
            return tx.commit();
        }
        // SQLite may already have rolled back by itself (disk full, I/O); then there is
        // nothing left to roll back and the error is not interesting.
        let _ = tx.rollback();
    }
    commit_isolated(conn, batch)
}

/// Runs each write in its own savepoint, so one failure spares the others.
fn commit_isolated(conn: &mut Connection, batch: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<()> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        let savepoint = tx.savepoint()?;
        if job.run(&savepoint) {
            savepoint.commit()?;
            continue;
        }
        // Some errors (disk full, I/O) make SQLite roll back the whole transaction by
        // itself; the savepoint is then gone and nothing in the batch survived.
        if savepoint.is_autocommit() {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_ABORT),
                Some("another write in the same batch failed and SQLite rolled the whole batch back".into()),
            ));
        }
        savepoint.finish()?;
    }
    tx.commit()
}

/// `rusqlite::Error` is not `Clone`, but a batch failure must reach every caller in it.
pub(crate) fn duplicate(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), Some(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer_with_table() -> Writer {
        let conn = Connection::open_in_memory().expect("in-memory database");
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)").expect("schema");
        Writer::spawn(conn, 256, 1024).expect("spawn")
    }

    fn insert(v: i64) -> impl FnMut(&Connection) -> Result<i64, StoreError> + Send + 'static {
        move |conn| {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(v)
        }
    }

    fn count() -> impl FnMut(&Connection) -> Result<i64, StoreError> + Send + 'static {
        |conn| Ok(conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))?)
    }

    #[tokio::test]
    async fn a_failing_write_rolls_back_only_itself() {
        let writer = std::sync::Arc::new(writer_with_table());
        let mut tasks = Vec::new();
        for v in 0..50_i64 {
            let writer = writer.clone();
            // Every tenth write inserts a duplicate and must fail on its own, after
            // having inserted nothing.
            tasks.push(tokio::spawn(async move {
                writer
                    .submit(move |conn| {
                        conn.execute("INSERT INTO t (v) VALUES (?1)", [v + 1000])?;
                        if v % 10 == 0 {
                            conn.execute("INSERT INTO t (v) VALUES (?1)", [v + 1000])?;
                        }
                        Ok(v)
                    })
                    .await
            }));
        }
        let mut failed = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => {}
                Err(StoreError::Sqlite(_)) => failed += 1,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert_eq!(failed, 5);
        assert_eq!(writer.submit(count()).await.expect("count"), 45);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_during_a_commit_share_the_next_one() {
        let writer = std::sync::Arc::new(writer_with_table());
        // Hold the writer inside a first batch until 50 more writes are queued.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let mut started = Some(started);
        let blocker = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .submit(move |_conn| {
                        if let Some(started) = started.take() {
                            let _ = started.send(());
                        }
                        hold.recv().map_err(|_| StoreError::WriterGone)?;
                        Ok(0)
                    })
                    .await
            })
        };
        running.await.expect("the first batch started");
        let mut tasks = Vec::new();
        for v in 1..=50_i64 {
            let writer = writer.clone();
            // v = 25 collides with v = 24 and must fail alone.
            let value = if v == 25 { 24 } else { v };
            tasks.push(tokio::spawn(async move { writer.submit(insert(value)).await }));
        }
        while writer.sender.capacity() > writer.sender.max_capacity() - 50 {
            tokio::task::yield_now().await;
        }
        release.send(()).expect("release the first batch");
        blocker.await.expect("blocker task").expect("blocker write");

        let mut failures = 0;
        for task in tasks {
            if task.await.expect("task").is_err() {
                failures += 1;
            }
        }
        assert_eq!(failures, 1);
        assert_eq!(writer.stats(), WriterStats { batches: 2, writes: 51, failed_batches: 0 });
        assert_eq!(writer.submit(count()).await.expect("count"), 49);
    }

    #[tokio::test]
    async fn writes_resolve_in_order_with_their_values() {
        let writer = writer_with_table();
        for v in 0..5 {
            assert_eq!(writer.submit(insert(v)).await.expect("insert"), v);
        }
        assert_eq!(writer.submit(count()).await.expect("count"), 5);
    }

    #[tokio::test]
    async fn a_stopped_writer_is_reported_as_gone() {
        let writer = writer_with_table();
        let panicking = writer.submit(|_conn| -> Result<(), StoreError> { panic!("writer thread dies") });
        assert!(matches!(panicking.await, Err(StoreError::WriterGone)));
        assert!(matches!(writer.submit(insert(1)).await, Err(StoreError::WriterGone)));
    }

    #[tokio::test]
    async fn close_lets_queued_writes_finish() {
        let writer = writer_with_table();
        assert_eq!(writer.submit(insert(7)).await.expect("insert"), 7);
        let thread = writer.close().expect("thread handle");
        tokio::task::spawn_blocking(move || thread.join()).await.expect("join task").expect("thread exits cleanly");
    }

    #[test]
    fn duplicated_errors_keep_the_sqlite_code() {
        let original = rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_FULL), Some("disk full".into()));
        match duplicate(&original) {
            rusqlite::Error::SqliteFailure(code, Some(message)) => {
                assert_eq!(code.code, rusqlite::ErrorCode::DiskFull);
                assert_eq!(message, "disk full");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
