//! `Idempotency-Key` for non-streaming chat completions and responses.
//!
//! A retry with the same key and the same request gets the first reply (same id, same
//! text) without a second turn; concurrent duplicates wait for the one turn. The turn of
//! a keyed request runs detached from the connection, so a client that times out and
//! retries finds the answer instead of a cancelled turn. Like Hermes, the same key with
//! a different request is computed afresh (and replaces the stored reply); unlike
//! Hermes, keys are scoped per endpoint and the fingerprint hashes canonical JSON
//! (sorted keys), not Python's `repr`.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::errors::{ApiError, ApiResult, JsonReply};

/// Replies kept (Hermes: 1000).
pub(crate) const MAX_ITEMS: usize = 1000;
/// How long a reply is kept (Hermes: 300 s).
pub(crate) const TTL: Duration = Duration::from_secs(300);

/// Which endpoint a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    ChatCompletions,
    Responses,
}

type Slot = (Scope, String);
type Pending = Shared<BoxFuture<'static, Option<ApiResult>>>;

struct Done {
    fingerprint: String,
    reply: JsonReply,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    done: HashMap<Slot, Done>,
    order: VecDeque<Slot>,
    running: HashMap<(Slot, String), Pending>,
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        self.done.retain(|_, d| now.duration_since(d.at) <= TTL);
        let done = &self.done;
        self.order.retain(|s| done.contains_key(s));
        while self.order.len() > MAX_ITEMS {
            if let Some(oldest) = self.order.pop_front() {
                self.done.remove(&oldest);
            }
        }
    }

    fn store(&mut self, slot: Slot, fingerprint: String, reply: JsonReply) {
        self.order.retain(|s| s != &slot);
        self.order.push_back(slot.clone());
        self.done.insert(slot, Done { fingerprint, reply, at: Instant::now() });
        self.purge(Instant::now());
    }
}

#[derive(Default)]
pub(crate) struct IdempotencyCache {
    inner: Mutex<Inner>,
}

impl IdempotencyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored reply for this key and request, or the result of `compute`, which runs
    /// in its own task. Errors (a failed backend call) are not stored.
    pub async fn run<F>(self: &Arc<Self>, scope: Scope, key: String, fingerprint: String, compute: F) -> ApiResult
    where
        F: Future<Output = ApiResult> + Send + 'static,
    {
        let slot = (scope, key);
        let pending = {
            let mut inner = self.lock();
            inner.purge(Instant::now());
            if let Some(done) = inner.done.get(&slot).filter(|d| d.fingerprint == fingerprint) {
                return Ok(done.reply.clone());
            }
            let running_key = (slot.clone(), fingerprint.clone());
            match inner.running.get(&running_key) {
                Some(p) => p.clone(),
                None => {
                    let cache = self.clone();
                    let task = tokio::spawn(async move {
                        let result = compute.await;
                        let mut inner = cache.lock();
                        inner.running.remove(&running_key);
                        if let Ok(reply) = &result {
                            inner.store(running_key.0.clone(), running_key.1.clone(), reply.clone());
                        }
                        result
                    });
                    let shared = async move { task.await.ok() }.boxed().shared();
                    inner.running.insert((slot.clone(), fingerprint.clone()), shared.clone());
                    shared
                }
            }
        };
        pending.await.unwrap_or_else(|| Err(ApiError::internal("the request's task failed")))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().done.len()
    }
}

/// SHA-256 of the named body members (and any extra values), serialised with sorted keys
/// so the same request always has the same fingerprint.
pub(crate) fn fingerprint(body: &Map<String, Value>, keys: &[&str], extra: &[(&str, Option<&str>)]) -> String {
    let mut text = String::new();
    for key in keys {
        text.push_str(key);
        text.push('=');
        canonical(body.get(*key).unwrap_or(&Value::Null), &mut text);
        text.push('\n');
    }
    for (name, value) in extra {
        text.push_str(name);
        text.push('=');
        canonical(&value.map(|v| Value::String(v.to_string())).unwrap_or(Value::Null), &mut text);
        text.push('\n');
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn reply(n: usize) -> JsonReply {
        JsonReply::ok(json!({ "n": n }))
    }

    #[test]
    fn fingerprints_ignore_key_order() {
        let a = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "other": 1});
        let b: Value = serde_json::from_str(r#"{"messages":[{"content":"hi","role":"user"}],"model":"m"}"#).unwrap();
        let keys = ["model", "messages"];
        assert_eq!(
            fingerprint(a.as_object().unwrap(), &keys, &[("sid", Some("x"))]),
            fingerprint(b.as_object().unwrap(), &keys, &[("sid", Some("x"))])
        );
        assert_ne!(
            fingerprint(a.as_object().unwrap(), &keys, &[("sid", Some("x"))]),
            fingerprint(a.as_object().unwrap(), &keys, &[("sid", Some("y"))])
        );
    }

    #[tokio::test]
    async fn same_key_same_request_computes_once() {
        let cache = Arc::new(IdempotencyCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let r = runs.clone();
            let got = cache
                .run(Scope::ChatCompletions, "k".into(), "fp".into(), async move {
                    Ok(reply(r.fetch_add(1, Ordering::SeqCst)))
                })
                .await
                .unwrap();
            assert_eq!(got.body["n"], 0);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A different request under the same key is computed afresh and replaces it.
        let got = cache.run(Scope::ChatCompletions, "k".into(), "other".into(), async { Ok(reply(9)) }).await.unwrap();
        assert_eq!(got.body["n"], 9);
        // Keys are per endpoint.
        let got = cache.run(Scope::Responses, "k".into(), "fp".into(), async { Ok(reply(5)) }).await.unwrap();
        assert_eq!(got.body["n"], 5);
        // Errors are not kept.
        let e = cache.run(Scope::Responses, "e".into(), "fp".into(), async { Err(ApiError::internal("x")) }).await;
        assert!(e.is_err());
        let ok = cache.run(Scope::Responses, "e".into(), "fp".into(), async { Ok(reply(1)) }).await.unwrap();
        assert_eq!(ok.body["n"], 1);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_are_bounded() {
        let cache = Arc::new(IdempotencyCache::default());
        for i in 0..(MAX_ITEMS + 5) {
            cache.run(Scope::Responses, format!("k{i}"), "fp".into(), async move { Ok(reply(i)) }).await.unwrap();
        }
        assert_eq!(cache.len(), MAX_ITEMS);
        // The oldest were evicted first.
        let got = cache.run(Scope::Responses, "k0".into(), "fp".into(), async { Ok(reply(777)) }).await.unwrap();
        assert_eq!(got.body["n"], 777);
        tokio::time::advance(TTL + Duration::from_secs(1)).await;
        let got = cache.run(Scope::Responses, "k0".into(), "fp".into(), async { Ok(reply(778)) }).await.unwrap();
        assert_eq!(got.body["n"], 778);
        assert_eq!(cache.len(), 1);
    }
}
