//! Moves WAL checkpoints off the writer thread.
//!
//! With `synchronous=NORMAL` a commit does not fsync, but a checkpoint does: it copies
//! WAL pages into the database file and syncs it. SQLite's automatic checkpoint runs
//! inside whichever commit crosses the threshold, so every few hundred turns one batch
//! of writers would wait for a disk sync. Here a thread of its own checkpoints instead,
//! with its own connection: WAL lets the writer keep appending while it runs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the checkpointer looks for new commits.
const INTERVAL: Duration = Duration::from_millis(100);

/// Handle to the checkpoint thread; dropping it stops the thread.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path` whenever `commits` has moved since the last look.
    pub(crate) fn spawn(path: &Path, busy_timeout: Duration, commits: Arc<AtomicU64>) -> std::io::Result<Checkpointer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(std::io::Error::other)?;
        conn.busy_timeout(busy_timeout).map_err(std::io::Error::other)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("herald-store-checkpoint".into())
            .spawn(move || run(&conn, &thread_stop, &commits))?;
        Ok(Checkpointer { stop, thread: Some(thread) })
    }
}

fn checkpoint(conn: &Connection) {
    // PASSIVE never waits for readers or the writer; what it cannot copy now it copies
    // on a later round.
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "WAL checkpoint failed; it will be retried");
    }
}

fn run(conn: &Connection, stop: &AtomicBool, commits: &AtomicU64) {
    let mut seen = commits.load(Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(INTERVAL);
        let now = commits.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            checkpoint(conn);
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
