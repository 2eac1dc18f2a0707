//! What the adapter remembers: the `getupdates` cursor and the per-peer context tokens
//! (both durable, in [`AdapterState`]), and the recent message ids and text
//! fingerprints that drop copies (in memory, as Hermes's `MessageDeduplicator`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::AdapterState;
use md5::{Digest, Md5};

/// The state key of the sync cursor (`get_updates_buf`).
pub const CURSOR_KEY: &str = "get_updates_buf";

/// The state key of a peer's context token.
pub fn context_token_key(peer: &str) -> String {
    format!("context_token:{peer}")
}

/// The latest context token of every peer, cached over the durable state.
pub struct ContextTokens {
    state: Arc<dyn AdapterState>,
    cache: Mutex<HashMap<String, Option<String>>>,
}

impl ContextTokens {
    pub fn new(state: Arc<dyn AdapterState>) -> ContextTokens {
        ContextTokens { state, cache: Mutex::new(HashMap::new()) }
    }

    /// The token to echo to `peer`, if one was ever issued (an empty stored value is a
    /// token dropped as stale).
    pub async fn get(&self, peer: &str) -> Option<String> {
        if let Some(t) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(peer) {
            return t.clone();
        }
        let stored = match self.state.get(&context_token_key(peer)).await {
            Ok(v) => v.filter(|t| !t.is_empty()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a WeChat context token; sending without one");
                return None;
            }
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(peer.to_string(), stored.clone());
        stored
    }

    /// Remembers the token of `peer`'s latest message; written through so a restart can
    /// still reply.
    pub async fn put(&self, peer: &str, token: &str) {
        let changed = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let changed = cache.get(peer).is_none_or(|t| t.as_deref() != Some(token));
            cache.insert(peer.to_string(), Some(token.to_string()));
            changed
        };
        if changed && let Err(e) = self.state.put(&context_token_key(peer), token).await {
            tracing::warn!(error = %e, "cannot store a WeChat context token; it is kept in memory only");
        }
    }

    /// Forgets `peer`'s token after the server refused it as stale.
    pub async fn drop_token(&self, peer: &str) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(peer.to_string(), None);
        if let Err(e) = self.state.put(&context_token_key(peer), "").await {
            tracing::warn!(error = %e, "cannot clear a stale WeChat context token");
        }
    }
}

/// The keys seen, and the same keys in the order they were seen (oldest first).
type Seen = (HashMap<String, Instant>, VecDeque<(String, Instant)>);

/// Hermes's `MessageDeduplicator`: keys seen within the TTL, at most `max` of them.
pub struct Dedup {
    ttl: Duration,
    max: usize,
    seen: Mutex<Seen>,
}

/// Hermes: 300 s, 2000 entries.
pub const DEDUP_TTL: Duration = Duration::from_secs(300);
pub const DEDUP_MAX: usize = 2000;

impl Default for Dedup {
    fn default() -> Self {
        Dedup::new(DEDUP_TTL, DEDUP_MAX)
    }
}

impl Dedup {
    pub fn new(ttl: Duration, max: usize) -> Dedup {
        Dedup { ttl, max, seen: Mutex::new((HashMap::new(), VecDeque::new())) }
    }

    /// Whether `key` was recorded within the TTL.
    pub fn seen(&self, key: &str, now: Instant) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.0.get(key).is_some_and(|at| now.duration_since(*at) < self.ttl)
    }

    /// Records `key` (only once its message was delivered, so a refused delivery is not
    /// dropped as a copy when it comes again).
    pub fn record(&self, key: String, now: Instant) {
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        while let Some((k, at)) = order.front() {
            if order.len() < self.max && now.duration_since(*at) < self.ttl {
                break;
            }
            if map.get(k) == Some(at) {
                map.remove(k);
            }
            order.pop_front();
        }
        map.insert(key.clone(), now);
        order.push_back((key, now));
    }
}

/// Hermes's content key: `content:<sender>:<md5(text)>`.
pub fn content_key(sender: &str, text: &str) -> String {
    format!("content:{sender}:{}", hex::encode(Md5::digest(text.as_bytes())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use async_trait::async_trait;

    /// An in-memory [`AdapterState`] for tests.
    #[derive(Default)]
    pub struct MemState(pub Mutex<HashMap<String, String>>);

    #[async_trait]
    impl AdapterState for MemState {
        async fn get(&self, key: &str) -> Result<Option<String>, String> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        async fn put(&self, key: &str, value: &str) -> Result<(), String> {
            self.0.lock().unwrap().insert(key.to_string(), value.to_string());
            Ok(())
        }
    }

    #[tokio::test]
    async fn tokens_persist_and_stale_ones_are_dropped() {
        let state = Arc::new(MemState::default());
        let t = ContextTokens::new(state.clone());
        assert_eq!(t.get("u1").await, None);
        t.put("u1", "ctx-1").await;
        assert_eq!(state.0.lock().unwrap().get("context_token:u1").map(String::as_str), Some("ctx-1"));
        // A new adapter over the same state (a restart) still has it.
        let t2 = ContextTokens::new(state.clone());
        assert_eq!(t2.get("u1").await.as_deref(), Some("ctx-1"));
        t2.drop_token("u1").await;
        assert_eq!(t2.get("u1").await, None);
        assert_eq!(ContextTokens::new(state).get("u1").await, None);
    }

    #[test]
    fn dedup_forgets_after_the_ttl_and_beyond_the_cap() {
        let d = Dedup::new(Duration::from_secs(300), 3);
        let t0 = Instant::now();
        d.record("a".into(), t0);
        assert!(d.seen("a", t0 + Duration::from_secs(299)));
        assert!(!d.seen("a", t0 + Duration::from_secs(300)));
        assert!(!d.seen("b", t0));
        for k in ["b", "c", "d"] {
            d.record(k.into(), t0);
        }
        assert!(!d.seen("a", t0), "the oldest entry left when the cap was reached");
        assert!(d.seen("d", t0));
        assert_eq!(content_key("u", "hi"), "content:u:49f68a5c8493ec2c0bf489821c21fc3b");
    }
}
