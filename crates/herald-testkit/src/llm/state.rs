//! The state one server shares between its handle and its connections.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::answer::Ids;
use super::record::RecordedRequest;
use super::script::{Reply, Script};

pub(crate) struct Shared {
    script: Mutex<Script>,
    recorded: Mutex<Vec<RecordedRequest>>,
    recording: AtomicBool,
    /// Model requests received, recorded or not, so benchmarks can count with
    /// recording off.
    received: AtomicUsize,
    arrived: Notify,
    pub ids: Ids,
    /// The most pieces a text or a tool call's arguments is streamed in.
    pub chunks: usize,
    /// Pause between stream events.
    pub chunk_delay: Duration,
}

/// Locks, ignoring poison: every critical section here is a plain push, pop
/// or copy that leaves the data consistent even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(fallback: Reply, record: bool, chunks: usize, chunk_delay: Duration) -> Self {
        Self {
            script: Mutex::new(Script::new(fallback)),
            recorded: Mutex::new(Vec::new()),
            recording: AtomicBool::new(record),
            received: AtomicUsize::new(0),
            arrived: Notify::new(),
            ids: Ids::default(),
            chunks: chunks.max(1),
            chunk_delay,
        }
    }

    pub fn script(&self) -> MutexGuard<'_, Script> {
        lock(&self.script)
    }

    pub fn next_reply(&self) -> Arc<Reply> {
        self.script().next()
    }

    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// Counts a model request, keeps it if it was recorded, and wakes waiters.
    pub fn note_request(&self, request: Option<RecordedRequest>) {
        if let Some(request) = request {
            lock(&self.recorded).push(request);
        }
        self.received.fetch_add(1, Ordering::Release);
        self.arrived.notify_waiters();
    }

    pub fn recorded(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        lock(&self.recorded)
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::Acquire)
    }

    /// Forgets every request seen so far, recorded and counted.
    pub fn clear_requests(&self) {
        let mut recorded = lock(&self.recorded);
        recorded.clear();
        self.received.store(0, Ordering::Release);
    }

    /// Resolves once at least `n` model requests have arrived.
    pub async fn wait_for(&self, n: usize) {
        loop {
            // Register before checking, so a request that lands in between still wakes us.
            let notified = self.arrived.notified();
            if self.received() >= n {
                return;
            }
            notified.await;
        }
    }
}
