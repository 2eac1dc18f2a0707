//! Delivery to one platform: whole replies and streamed answers, shaped by what the
//! adapter can do ([`herald_core::Capabilities`]), through the durable outbox.
//!
//! Every reply the user must get (answers, notices, pairing codes) is queued in the
//! store in the same write that finishes its inbound message, then sent by the outbox
//! worker, which retries failures and survives restarts. Only streaming previews skip
//! the outbox: they are replaced by the final answer anyway.

pub mod chunk;
pub mod media;
pub mod outbox;
pub mod silence;
pub mod stream;
pub mod think;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use herald_core::config::StreamingConfig;
use herald_core::{Adapter, OutboundOp, Target, TextFormat};
use herald_store::{NewOutbound, Store};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::runner::{Origin, Replies, ReplyError, ReplyStream};
use outbox::Outbox;
use stream::{Consumer, Msg, PreviewState, Transport};

/// Delivery to one platform. Cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

struct Inner {
    outbox: Arc<Outbox>,
    config: StreamingConfig,
    next_draft: AtomicU64,
}

impl Delivery {
    pub fn new(adapter: Arc<dyn Adapter>, store: Arc<dyn Store>, config: StreamingConfig) -> Delivery {
        let platform = adapter.platform().as_str().to_string();
        Delivery {
            inner: Arc::new(Inner {
                outbox: Arc::new(Outbox {
                    adapter,
                    store,
                    platform,
                    wake: Notify::new(),
                    previews: Default::default(),
                }),
                config,
                next_draft: AtomicU64::new(1),
            }),
        }
    }

    /// At startup, before the worker runs: what a crash left in flight is not resent.
    pub async fn recover(&self) -> Result<usize, herald_store::StoreError> {
        self.inner.outbox.recover().await
    }

    /// The outbox worker; runs until `cancel`.
    pub fn run_outbox(&self, cancel: CancellationToken) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.outbox.clone().run(cancel)
    }

    /// Sends what is due now, once (for tests and the shutdown).
    pub async fn flush(&self) -> Result<bool, herald_store::StoreError> {
        self.inner.outbox.pass().await
    }
}

impl Inner {
    /// Queues `ops` for `target` (the first carries the reply-to) and finishes the
    /// origin's inbound message in the same write.
    async fn enqueue(&self, target: &Target, ops: Vec<OutboundOp>, origin: Origin) -> Result<(), ReplyError> {
        let mut items = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            let mut t = target.clone();
            if i > 0 {
                t.reply_to = None;
            }
            items.push(NewOutbound {
                platform: self.outbox.platform.clone(),
                account: None,
                session_id: origin.session_id.clone(),
                target_json: serde_json::to_string(&t).map_err(|e| ReplyError(e.to_string()))?,
                op_json: serde_json::to_string(&op).map_err(|e| ReplyError(e.to_string()))?,
                not_before: None,
            });
        }
        let finish = origin.inbound_id.map(|id| (id, origin.outcome.clone().unwrap_or_else(|| "answered".into())));
        if items.is_empty() {
            if let Some((id, outcome)) = finish {
                self.outbox.store.finish_inbound(id, &outcome).await.map_err(|e| ReplyError(e.to_string()))?;
            }
            return Ok(());
        }
        self.outbox.store.enqueue_outbound(items, finish).await.map_err(|e| ReplyError(e.to_string()))?;
        self.outbox.wake.notify_one();
        Ok(())
    }

    /// The sends of a final text: files it tags with `MEDIA:` or names by a bare image or
    /// video path first (when the platform can send media), then the text in the
    /// platform's parts.
    fn chunks(&self, text: &str) -> Vec<OutboundOp> {
        let adapter = &self.outbox.adapter;
        let caps = adapter.capabilities();
        let (files, text) = if caps.media {
            let (mut files, text) = media::extract(text);
            let (bare, text) = media::extract_bare(&text);
            files.extend(bare.into_iter().filter(|f| !files.contains(f)).collect::<Vec<_>>());
            (files, text)
        } else {
            (Vec::new(), text.to_string())
        };
        let mut ops: Vec<OutboundOp> = files
            .into_iter()
            .map(|path| OutboundOp::SendMedia { kind: media::kind_of(&path), path, caption: None })
            .collect();
        if !text.trim().is_empty() {
            // An adapter's own parts are already in the platform's form: sent as written.
            let (parts, format) = match adapter.split_text(&text) {
                Some(parts) => (parts, TextFormat::Plain),
                None => (chunk::split(&text, caps.max_message_len, caps.length_unit), TextFormat::Markdown),
            };
            ops.extend(parts.into_iter().map(|text| OutboundOp::Send { text, format }));
        }
        ops
    }

    /// The sends that turn a preview into the final answer.
    fn final_ops(&self, target: &Target, preview: &PreviewState, transport: Transport, text: &str) -> Vec<OutboundOp> {
        let caps = self.outbox.adapter.capabilities();
        let delete_preview =
            || preview.message_id.clone().filter(|_| caps.delete).map(|id| OutboundOp::Delete { message_id: id });
        if text.trim().is_empty() || silence::is_silence(text) {
            return delete_preview().into_iter().collect();
        }
        let Some(preview_id) = preview.message_id.clone().filter(|_| transport == Transport::Edit) else {
            // Drafts vanish when the message is sent; no preview: a plain send.
            return self.chunks(text);
        };
        if preview.flood_stopped {
            // Edits are refused: send only what the preview does not show yet.
            return match text.strip_prefix(preview.shown.as_str()) {
                Some(tail) if !preview.shown.is_empty() && !tail.trim().is_empty() => self.chunks(tail.trim_start()),
                Some(_) if !preview.shown.is_empty() => Vec::new(),
                _ => self.chunks(text),
            };
        }
        let fresh = self.config.fresh_final_after.as_millis() > 0
            && preview.created.is_some_and(|c| c.elapsed() >= self.config.fresh_final_after);
        let mut ops = self.chunks(text);
        if fresh {
            ops.extend(delete_preview());
            return ops;
        }
        if let Some(OutboundOp::Send { text, format }) = ops.first().cloned() {
            if caps.fallback_on_final_edit_flood {
                // Should the final edit be refused for flood control, the outbox sends
                // only what the preview lacks (Hermes's FALLBACK_ON_FINAL_EDIT_FLOOD).
                self.outbox.remember_preview(target, &preview_id, &preview.shown);
            }
            ops[0] = OutboundOp::Edit { message_id: preview_id, text, format };
        }
        ops
    }
}

#[async_trait]
impl Replies for Delivery {
    async fn send_text(&self, target: &Target, text: &str, origin: Origin) -> Result<(), ReplyError> {
        let text = think::strip(text);
        let inner = &self.inner;
        let ops = if silence::is_silence(&text) || text.trim().is_empty() { Vec::new() } else { inner.chunks(&text) };
        inner.enqueue(target, ops, origin).await
    }

    fn stream(&self, target: &Target, _session_id: &str) -> Box<dyn ReplyStream> {
        let inner = &self.inner;
        let adapter = inner.outbox.adapter.clone();
        let caps = adapter.capabilities();
        let draft_id = inner.next_draft.fetch_add(1, Ordering::Relaxed);
        let transport = stream::transport_for(&inner.config, &caps, target, draft_id);
        let (tx, rx) = mpsc::unbounded_channel();
        let consumer = Consumer {
            adapter,
            target: target.clone(),
            transport,
            config: inner.config.clone(),
            max_len: caps.max_message_len,
            unit: caps.length_unit,
        };
        if transport != Transport::Off {
            tokio::spawn(consumer.run(rx));
        }
        Box::new(Streaming { inner: self.inner.clone(), tx, target: target.clone(), transport })
    }

    async fn typing(&self, target: &Target) {
        let adapter = &self.inner.outbox.adapter;
        if adapter.capabilities().typing {
            let _ = adapter.send(target, &OutboundOp::Typing).await;
        }
    }
}

struct Streaming {
    inner: Arc<Inner>,
    tx: mpsc::UnboundedSender<Msg>,
    target: Target,
    transport: Transport,
}

#[async_trait]
impl ReplyStream for Streaming {
    fn push_delta(&mut self, delta: &str) {
        // The consumer task may be gone (no transport, or it stopped): then only the
        // final answer matters, which does not go through it.
        let _ = self.tx.send(Msg::Delta(delta.to_string()));
    }

    async fn finish(self: Box<Self>, final_text: &str, origin: Origin) -> Result<(), ReplyError> {
        let (reply, preview) = oneshot::channel();
        let preview = if self.transport != Transport::Off && self.tx.send(Msg::Finish(reply)).is_ok() {
            preview.await.unwrap_or_default()
        } else {
            PreviewState::default()
        };
        let text = think::strip(final_text);
        let ops = self.inner.final_ops(&self.target, &preview, self.transport, &text);
        self.inner.enqueue(&self.target, ops, origin).await
    }

    async fn abandon(self: Box<Self>) {
        drop(self.tx);
    }
}
