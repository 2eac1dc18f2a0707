//! Delivery against a platform that cannot edit and splits answers its own way (the
//! shape of WeChat): the path is chosen from the capabilities, every part is its own
//! outbox entry sent in order, and a part that fails is retried without resending the
//! parts that arrived.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::config::ConfigLoader;
use herald_core::{
    Adapter, AdapterError, Capabilities, ChatType, InboundSink, LengthUnit, OutboundOp, Platform, SendError, Sent,
    Target,
};
use herald_gateway::delivery::Delivery;
use herald_gateway::runner::{Origin, Replies};
use herald_store::{SqliteStore, Store};

/// Records every operation; fails the sends listed in `failures` (by text) once each.
struct NoEdits {
    ops: Mutex<Vec<(String, OutboundOp)>>,
    failures: Mutex<VecDeque<String>>,
}

#[async_trait]
impl Adapter for NoEdits {
    fn platform(&self) -> Platform {
        Platform::Weixin
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_message_len: 2000,
            length_unit: LengthUnit::Chars,
            edit: false,
            delete: false,
            draft_in_dm: false,
            typing: true,
            media: true,
            fallback_on_final_edit_flood: false,
        }
    }

    /// One part per line, as WeChat's compact mode does for a short chatty block.
    fn split_text(&self, text: &str) -> Option<Vec<String>> {
        Some(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
    }

    async fn run(&self, _sink: Arc<dyn InboundSink>) -> Result<(), AdapterError> {
        std::future::pending().await
    }

    async fn send(&self, target: &Target, op: &OutboundOp) -> Result<Sent, SendError> {
        if let OutboundOp::Send { text, .. } = op {
            let mut failures = self.failures.lock().unwrap();
            if failures.front() == Some(text) {
                failures.pop_front();
                return Err(SendError::Transient("HTTP 502".into()));
            }
        }
        self.ops.lock().unwrap().push((target.chat_id.clone(), op.clone()));
        Ok(Sent { message_id: Some(format!("m{}", self.ops.lock().unwrap().len())), fell_back_to_plain: false })
    }
}

fn sends(adapter: &NoEdits) -> Vec<(String, String)> {
    adapter
        .ops
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(chat, op)| match op {
            OutboundOp::Send { text, .. } => Some((chat.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

fn dm(chat: &str) -> Target {
    Target { chat_id: chat.into(), chat_type: Some(ChatType::Dm), thread_id: None, reply_to: None }
}

async fn flush_until(delivery: &Delivery, adapter: &NoEdits, want: usize) {
    for _ in 0..500 {
        let _ = delivery.flush().await;
        if sends(adapter).len() >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("only {:?} were sent", sends(adapter));
}

#[tokio::test]
async fn a_streamed_answer_on_a_platform_without_edits_arrives_once_in_the_platforms_parts_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    let adapter = Arc::new(NoEdits { ops: Mutex::new(Vec::new()), failures: Mutex::new(VecDeque::new()) });
    adapter.failures.lock().unwrap().push_back("second".into());
    let delivery =
        Delivery::new(adapter.clone(), store.clone(), ConfigLoader::new().build().unwrap().config.sessions.streaming);

    let mut stream = delivery.stream(&dm("u1"), "s1");
    for delta in ["first\n", "sec", "ond\n", "third"] {
        stream.push_delta(delta);
    }
    stream.finish("first\nsecond\nthird", Origin::session("s1")).await.unwrap();
    delivery.send_text(&dm("u2"), "other chat", Origin::session("s2")).await.unwrap();
    flush_until(&delivery, &adapter, 4).await;

    let ops = adapter.ops.lock().unwrap().clone();
    assert!(
        ops.iter().all(|(_, op)| !matches!(op, OutboundOp::Edit { .. } | OutboundOp::Draft { .. })),
        "no previews on a platform that cannot edit: {ops:?}"
    );
    let to_u1: Vec<String> = sends(&adapter).into_iter().filter(|(c, _)| c == "u1").map(|(_, t)| t).collect();
    assert_eq!(to_u1, ["first", "second", "third"], "each part once, in order, the failed one retried alone");
    assert!(sends(&adapter).contains(&("u2".into(), "other chat".into())));
    assert!(adapter.failures.lock().unwrap().is_empty(), "the failure was hit");
}

#[tokio::test]
async fn tagged_and_bare_media_paths_go_out_as_files_before_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    let adapter = Arc::new(NoEdits { ops: Mutex::new(Vec::new()), failures: Mutex::new(VecDeque::new()) });
    let delivery =
        Delivery::new(adapter.clone(), store.clone(), ConfigLoader::new().build().unwrap().config.sessions.streaming);
    let (doc, png) = (dir.path().join("notes.txt"), dir.path().join("plot.png"));
    std::fs::write(&doc, b"notes").unwrap();
    std::fs::write(&png, b"png").unwrap();
    let answer = format!("MEDIA:{}\nThe plot is at {} as asked.", doc.display(), png.display());
    delivery.send_text(&dm("u1"), &answer, Origin::session("s1")).await.unwrap();
    for _ in 0..500 {
        let _ = delivery.flush().await;
        if adapter.ops.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ops: Vec<OutboundOp> = adapter.ops.lock().unwrap().iter().map(|(_, op)| op.clone()).collect();
    let files: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            OutboundOp::SendMedia { kind, path, .. } => Some((*kind, path.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(files, [(herald_core::MediaKind::Document, doc), (herald_core::MediaKind::Photo, png)], "{ops:?}");
    assert!(matches!(ops.last(), Some(OutboundOp::Send { .. })), "the text last: {ops:?}");
    assert_eq!(sends(&adapter), [("u1".to_string(), "The plot is at as asked.".to_string())]);
}
