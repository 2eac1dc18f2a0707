//! A scriptable [`InboundSink`] and a minimal supervisor that keeps an adapter's
//! listener running (re-running it after it fails, as the gateway's supervisor does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::{Accepted, Adapter, AdapterError, Inbound, InboundSink, SinkError};
use tokio::sync::mpsc;

/// A sink that hands every delivery to the check and answers `Recorded`, except for
/// messages it was told to refuse (by message id, so a late copy of another message
/// cannot use up a refusal).
pub struct TestSink {
    tx: mpsc::UnboundedSender<Inbound>,
    refusals: Mutex<HashMap<String, usize>>,
    connected: AtomicBool,
}

#[async_trait]
impl InboundSink for TestSink {
    async fn deliver(&self, message: Inbound) -> Result<Accepted, SinkError> {
        let refuse = {
            let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            let by_chat = message.source.chat_id.as_ref().map(|c| format!("chat:{c}"));
            let key = match message.message_id.as_ref().filter(|id| refusals.contains_key(*id)) {
                Some(id) => Some(id.clone()),
                None => by_chat,
            };
            match key.and_then(|k| refusals.get_mut(&k)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        };
        let _ = self.tx.send(message);
        if refuse {
            Err(SinkError::NotRecorded("refused by the conformance check".into()))
        } else {
            Ok(Accepted::Recorded)
        }
    }

    fn connected(&self, _detail: Option<String>) {
        self.connected.store(true, Ordering::SeqCst);
    }
}

impl TestSink {
    /// The next `times` deliveries of this message answer `NotRecorded`.
    pub fn refuse(&self, message_id: &str, times: usize) {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner()).insert(message_id.to_string(), times);
    }

    /// The next `times` deliveries in `chat_id` answer `NotRecorded`. Set before the
    /// message is injected, so a fast adapter cannot deliver it first.
    pub fn refuse_next_in_chat(&self, chat_id: &str, times: usize) {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner()).insert(format!("chat:{chat_id}"), times);
    }

    pub fn was_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}

/// An adapter's listener running in a task until this is dropped.
pub struct Running {
    pub sink: Arc<TestSink>,
    rx: mpsc::UnboundedReceiver<Inbound>,
    fatal: Arc<Mutex<Option<String>>>,
    /// Woken when the listener stopped for good, so a wait ends at once.
    stopped: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts `adapter.run`, re-running it whenever it returns (a fatal error stops it
    /// and is reported by [`next`](Self::next)).
    pub fn start(adapter: &Arc<dyn Adapter>) -> Running {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = Arc::new(TestSink { tx, refusals: Mutex::new(HashMap::new()), connected: AtomicBool::new(false) });
        let fatal = Arc::new(Mutex::new(None));
        let (adapter, dyn_sink, fatal_slot) =
            (Arc::clone(adapter), Arc::clone(&sink) as Arc<dyn InboundSink>, Arc::clone(&fatal));
        let stopped = Arc::new(tokio::sync::Notify::new());
        let stopped_tx = Arc::clone(&stopped);
        let task = tokio::spawn(async move {
            loop {
                match adapter.run(Arc::clone(&dyn_sink)).await {
                    Err(AdapterError::Fatal(why)) => {
                        *fatal_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                        stopped_tx.notify_one();
                        return;
                    }
                    // A clean end or a disconnect: reconnect, a little later so a
                    // persistent failure does not spin.
                    Ok(()) | Err(AdapterError::Disconnected(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        Running { sink, rx, fatal, stopped, task }
    }

    /// The next delivery, or why none came within `within`.
    pub async fn next(&mut self, within: Duration) -> Result<Inbound, String> {
        let stopped = Arc::clone(&self.stopped);
        let got = tokio::select! {
            got = tokio::time::timeout(within, self.rx.recv()) => got.ok().flatten(),
            // A delivery made before the listener stopped is still taken.
            () = stopped.notified() => { stopped.notify_one(); self.rx.try_recv().ok() }
        };
        match got {
            Some(m) => Ok(m),
            None => Err(match self.fatal.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                Some(why) => format!("the adapter stopped with a fatal error: {why}"),
                None => format!("nothing was delivered within {within:?}"),
            }),
        }
    }

    /// The next delivery from this chat, skipping other chats (late copies of
    /// messages an earlier listener delivered are allowed: delivery is at least once).
    pub async fn next_in_chat(&mut self, chat_id: &str, within: Duration) -> Result<Inbound, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.next(left).await.map_err(|e| format!("chat {chat_id}: {e}"))?;
            if m.source.chat_id.as_deref() == Some(chat_id) {
                return Ok(m);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}
