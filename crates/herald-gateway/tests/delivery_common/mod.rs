//! The fixture of the streaming delivery tests: a scripted in-process adapter that keeps
//! the chat as a platform would (messages by id, edits in place, deletes), fails the
//! operations a test asks it to, and a real SQLite store in a temporary directory.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::config::StreamingConfig;
use herald_core::{
    Adapter, AdapterError, Capabilities, ChatType, InboundSink, LengthUnit, OutboundOp, Platform, SendError, Sent,
    Target,
};
use herald_gateway::delivery::Delivery;
use herald_gateway::runner::Origin;
use herald_store::{InboundState, NewInbound, OutboundRow, SqliteStore, Store};

pub const CURSOR: &str = " ▉";

/// Which operations a scripted failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Send,
    Edit,
}

fn kind_of(op: &OutboundOp) -> Option<Kind> {
    match op {
        OutboundOp::Send { .. } => Some(Kind::Send),
        OutboundOp::Edit { .. } => Some(Kind::Edit),
        _ => None,
    }
}

/// An adapter that records every operation (failed ones too) and keeps the chat.
pub struct Scripted {
    caps: Capabilities,
    ops: Mutex<Vec<OutboundOp>>,
    failures: Mutex<VecDeque<(Kind, usize, SendError)>>,
    /// The chat's messages by id, as the user sees them.
    pub chat: Mutex<BTreeMap<u64, String>>,
    next_id: AtomicU64,
}

impl Scripted {
    pub fn new(caps: Capabilities) -> Arc<Scripted> {
        Arc::new(Scripted {
            caps,
            ops: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
            chat: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(100),
        })
    }

    /// The next `n` operations of `kind` fail with `error`.
    pub fn fail(&self, kind: Kind, n: usize, error: SendError) {
        self.failures.lock().unwrap().push_back((kind, n, error));
    }

    pub fn ops(&self) -> Vec<OutboundOp> {
        self.ops.lock().unwrap().clone()
    }

    /// The chat's messages, oldest first.
    pub fn chat(&self) -> Vec<String> {
        self.chat.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl Adapter for Scripted {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn run(&self, _sink: Arc<dyn InboundSink>) -> Result<(), AdapterError> {
        std::future::pending().await
    }

    async fn send(&self, _target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
        self.ops.lock().unwrap().push(op.clone());
        {
            let mut failures = self.failures.lock().unwrap();
            if let Some(slot) = failures.iter_mut().find(|(kind, n, _)| Some(*kind) == kind_of(op) && *n > 0) {
                slot.1 -= 1;
                let error = slot.2.clone();
                failures.retain(|(_, n, _)| *n > 0);
                return Err(error);
            }
        }
        let mut chat = self.chat.lock().unwrap();
        match op {
            OutboundOp::Send { text, .. } => {
                assert!(self.caps.length_unit.len(text) <= self.caps.max_message_len, "too long: {text:?}");
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                chat.insert(id, text.clone());
                Ok(Sent { message_id: Some(id.to_string()), fell_back_to_plain: false })
            }
            OutboundOp::Edit { message_id, text, .. } => {
                assert!(self.caps.edit, "edit on a platform without edits");
                assert!(self.caps.length_unit.len(text) <= self.caps.max_message_len, "too long: {text:?}");
                let id: u64 = message_id.parse().unwrap();
                match chat.get_mut(&id) {
                    Some(old) if old == text => Err(SendError::NotModified),
                    Some(old) => {
                        *old = text.clone();
                        Ok(Sent { message_id: Some(message_id.clone()), fell_back_to_plain: false })
                    }
                    None => Err(SendError::MessageGone("message to edit not found".into())),
                }
            }
            OutboundOp::Delete { message_id } => {
                assert!(self.caps.delete, "delete on a platform without deletes");
                match chat.remove(&message_id.parse().unwrap()) {
                    Some(_) => Ok(Sent::default()),
                    None => Err(SendError::MessageGone("message to delete not found".into())),
                }
            }
            OutboundOp::Draft { draft_id, .. } => {
                assert!(self.caps.draft_in_dm, "a draft on a platform without drafts");
                assert_ne!(*draft_id, 0);
                Ok(Sent::default())
            }
            _ => Ok(Sent::default()),
        }
    }
}

/// Telegram's shape: edits, deletes, no drafts unless a test turns them on.
pub fn caps() -> Capabilities {
    Capabilities {
        max_message_len: 4096,
        length_unit: LengthUnit::Utf16,
        edit: true,
        delete: true,
        draft_in_dm: false,
        typing: true,
        media: false,
        fallback_on_final_edit_flood: false,
    }
}

/// Hermes's defaults with streaming on.
pub fn streaming() -> StreamingConfig {
    StreamingConfig {
        enabled: true,
        transport: "auto".into(),
        edit_interval: Duration::from_millis(800),
        buffer_threshold: 24,
        cursor: CURSOR.into(),
        fresh_final_after: Duration::ZERO,
    }
}

pub fn target(chat_type: ChatType) -> Target {
    Target { chat_id: "42".into(), chat_type: Some(chat_type), thread_id: None, reply_to: None }
}

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub adapter: Arc<Scripted>,
    pub delivery: Delivery,
}

pub fn fixture(caps: Capabilities, config: StreamingConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("herald.db")).unwrap());
    let adapter = Scripted::new(caps);
    let delivery = Delivery::new(adapter.clone(), store.clone(), config);
    Fixture { _dir: dir, store, adapter, delivery }
}

impl Fixture {
    /// Records an inbound message; the origin finishes it as `answered`.
    pub async fn inbound(&self, key: &str) -> Origin {
        let recorded = self
            .store
            .record_inbound(NewInbound {
                platform: "telegram".into(),
                account: None,
                dedup_key: key.into(),
                payload_json: "{}".into(),
                received_at: 0,
            })
            .await
            .unwrap();
        Origin::session("s1").finishing(recorded.id, "answered")
    }

    pub async fn outcome(&self, origin: &Origin) -> (InboundState, Option<String>) {
        let row = self.store.inbound(origin.inbound_id.unwrap()).await.unwrap().unwrap();
        (row.state, row.outcome)
    }

    /// One outbox pass after another until a pass sends nothing (what is due is sent;
    /// a retry that is not due yet stays queued).
    pub async fn flush(&self) {
        while self.delivery.flush().await.unwrap() {}
    }

    /// The outbox rows queued so far (ids count from 1 in a fresh store).
    pub async fn rows(&self) -> Vec<OutboundRow> {
        let mut rows = Vec::new();
        for id in 1.. {
            match self.store.outbound(id).await.unwrap() {
                Some(row) => rows.push(row),
                None => return rows,
            }
        }
        rows
    }
}

pub fn edits(ops: &[OutboundOp]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            OutboundOp::Edit { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

pub fn sends(ops: &[OutboundOp]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            OutboundOp::Send { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The words of `text` without ` (i/N)` chunk indicators.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| !(w.starts_with('(') && w.ends_with(')') && w.contains('/')))
        .map(str::to_string)
        .collect()
}
