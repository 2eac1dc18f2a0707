//! Duplicate drop, in memory: first by the platform's message id, then by a content
//! fingerprint (platform, chat, user, text and media) within a short window.
//!
//! The durable check is the store's inbound log (`record_inbound` answers
//! `duplicate: true` for a re-read after a crash); this one is cheap and catches what
//! the log cannot: platforms that deliver the same message twice under two ids (Hermes
//! keeps `content:<sender>:<md5(text)>` keys for Weixin for that reason).
//!
//! Constants are Hermes's `MessageDeduplicator` (TTL 300 s, at most 2000 entries). The
//! content window is shorter, 60 s: Hermes applies content keys only on Weixin, and on a
//! chat platform a user who sends "yes" twice five minutes apart means it twice.
//! Memory is bounded: entries expire in insertion order and the oldest are evicted
//! past `max_entries`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use herald_core::Inbound;

/// Hermes's `MessageDeduplicator` TTL.
pub const MESSAGE_ID_TTL: Duration = Duration::from_secs(300);
/// How long an identical message from the same user in the same chat counts as a copy.
pub const CONTENT_WINDOW: Duration = Duration::from_secs(60);
/// Hermes's `MessageDeduplicator` size bound.
pub const MAX_ENTRIES: usize = 2000;

/// The windows and the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupConfig {
    pub message_id_ttl: Duration,
    pub content_window: Duration,
    /// Most remembered keys of each kind.
    pub max_entries: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig { message_id_ttl: MESSAGE_ID_TTL, content_window: CONTENT_WINDOW, max_entries: MAX_ENTRIES }
    }
}

/// Keys that expire; insertion order is expiry order because every key of one set
/// has the same lifetime.
#[derive(Debug)]
struct ExpiringSet<K> {
    expiry: HashMap<K, i64>,
    order: VecDeque<(K, i64)>,
    ttl_ms: i64,
    max: usize,
}

impl<K: Hash + Eq + Clone> ExpiringSet<K> {
    fn new(ttl: Duration, max: usize) -> Self {
        ExpiringSet {
            expiry: HashMap::new(),
            order: VecDeque::new(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            max: max.max(1),
        }
    }

    fn prune(&mut self, now_ms: i64) {
        while let Some((key, at)) = self.order.front() {
            if *at > now_ms && self.order.len() <= self.max {
                break;
            }
            // Only the newest insertion of a key owns its map entry.
            if self.expiry.get(key) == Some(at) {
                self.expiry.remove(key);
            }
            self.order.pop_front();
        }
    }

    fn contains(&self, key: &K, now_ms: i64) -> bool {
        self.expiry.get(key).is_some_and(|at| *at > now_ms)
    }

    fn insert(&mut self, key: K, now_ms: i64) {
        let at = now_ms.saturating_add(self.ttl_ms);
        self.expiry.insert(key.clone(), at);
        self.order.push_back((key, at));
        self.prune(now_ms);
    }

    fn len(&self) -> usize {
        self.expiry.len()
    }
}

/// The duplicate filter. One per gateway; not thread-safe on its own (the runner
/// keeps it behind a mutex).
#[derive(Debug)]
pub struct Dedup {
    ids: ExpiringSet<(String, String, String)>,
    content: ExpiringSet<u64>,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup::new(DedupConfig::default())
    }
}

/// The content fingerprint: `None` for a message with neither text nor media, which
/// has nothing to compare.
fn fingerprint(inbound: &Inbound) -> Option<u64> {
    let text = inbound.text.trim();
    if text.is_empty() && inbound.media.is_empty() {
        return None;
    }
    let s = &inbound.source;
    let mut h = DefaultHasher::new();
    s.platform.as_str().hash(&mut h);
    s.chat_id.hash(&mut h);
    s.thread_id.hash(&mut h);
    s.user_id.hash(&mut h);
    text.hash(&mut h);
    for m in &inbound.media {
        m.kind.hash(&mut h);
        m.file_name.hash(&mut h);
        m.size.hash(&mut h);
    }
    Some(h.finish())
}

impl Dedup {
    pub fn new(config: DedupConfig) -> Self {
        Dedup {
            ids: ExpiringSet::new(config.message_id_ttl, config.max_entries),
            content: ExpiringSet::new(config.content_window, config.max_entries),
        }
    }

    /// Whether `inbound` is a copy of a message seen before (drop it). A message that
    /// is not a copy is remembered, so call this once per delivery. `now_ms` is the
    /// receive time in Unix milliseconds.
    pub fn seen(&mut self, inbound: &Inbound, now_ms: i64) -> bool {
        self.ids.prune(now_ms);
        self.content.prune(now_ms);
        let id_key = inbound.message_id.as_ref().map(|id| {
            (
                inbound.source.platform.as_str().to_string(),
                inbound.source.chat_id.clone().unwrap_or_default(),
                id.clone(),
            )
        });
        if let Some(key) = &id_key
            && self.ids.contains(key, now_ms)
        {
            return true;
        }
        let print = fingerprint(inbound);
        let copy = print.is_some_and(|p| self.content.contains(&p, now_ms));
        // A copy under a new id still remembers that id, so its own redelivery drops too.
        if let Some(key) = id_key {
            self.ids.insert(key, now_ms);
        }
        if copy {
            return true;
        }
        if let Some(p) = print {
            self.content.insert(p, now_ms);
        }
        false
    }

    /// How many keys are remembered (message ids, fingerprints).
    pub fn len(&self) -> (usize, usize) {
        (self.ids.len(), self.content.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use herald_core::{Attachment, MediaKind, Platform, Source};

    use super::*;

    fn msg(chat: &str, user: &str, id: Option<&str>, text: &str) -> Inbound {
        let mut source = Source::dm(Platform::Telegram, chat);
        source.user_id = Some(user.into());
        Inbound {
            source,
            message_id: id.map(str::to_string),
            text: text.into(),
            media: Vec::new(),
            reply_to: None,
            timestamp_ms: 0,
            from_bot: false,
        }
    }

    const S: i64 = 1000;

    #[test]
    fn same_message_id_is_a_copy_until_the_ttl() {
        let mut d = Dedup::default();
        assert!(!d.seen(&msg("1", "u", Some("10"), "hi"), 0));
        // Different text, same id: the platform redelivered an edited copy.
        assert!(d.seen(&msg("1", "u", Some("10"), "hello"), 10 * S));
        assert!(!d.seen(&msg("1", "u", Some("10"), "later"), 301 * S));
        // The same id in another chat is another message.
        assert!(!d.seen(&msg("2", "u", Some("10"), "x"), 301 * S));
    }

    #[test]
    fn same_content_under_a_new_id_is_a_copy_within_the_window() {
        let mut d = Dedup::default();
        assert!(!d.seen(&msg("1", "u", Some("10"), "hi"), 0));
        assert!(d.seen(&msg("1", "u", Some("11"), " hi "), 30 * S));
        // Its id is remembered too.
        assert!(d.seen(&msg("1", "u", Some("11"), "other"), 31 * S));
        // Past the window the same words are a new message.
        assert!(!d.seen(&msg("1", "u", Some("12"), "hi"), 61 * S));
        // Another user or chat saying the same is not a copy.
        assert!(!d.seen(&msg("1", "v", Some("13"), "hi"), 62 * S));
        assert!(!d.seen(&msg("3", "u", Some("14"), "hi"), 62 * S));
    }

    #[test]
    fn messages_without_ids_use_the_fingerprint_and_empty_ones_never_match() {
        let mut d = Dedup::default();
        assert!(!d.seen(&msg("1", "u", None, "a"), 0));
        assert!(d.seen(&msg("1", "u", None, "a"), S));
        assert!(!d.seen(&msg("1", "u", None, ""), S));
        assert!(!d.seen(&msg("1", "u", None, ""), 2 * S));
        let mut photo = msg("1", "u", None, "");
        photo.media.push(Attachment {
            kind: MediaKind::Photo,
            path: "/cache/a.jpg".into(),
            mime_type: None,
            file_name: Some("a.jpg".into()),
            size: 10,
            transcript: None,
        });
        assert!(!d.seen(&photo, 3 * S));
        assert!(d.seen(&photo, 4 * S));
        photo.media[0].size = 11;
        assert!(!d.seen(&photo, 5 * S));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut d = Dedup::new(DedupConfig { max_entries: 50, ..DedupConfig::default() });
        for i in 0..10_000 {
            assert!(!d.seen(&msg("1", "u", Some(&i.to_string()), &format!("m{i}")), i));
        }
        let (ids, prints) = d.len();
        assert!(ids <= 50 && prints <= 50, "{ids} {prints}");
        // The newest are still remembered.
        assert!(d.seen(&msg("1", "u", Some("9999"), "x"), 10_000));
        // Everything expires.
        d.seen(&msg("9", "z", None, ""), 10_000 + 301 * S);
        assert!(d.is_empty());
    }
}
