//! Everything the fake iLink server knows, behind one lock, and the notification that
//! wakes long polls and waiting tests when it changes.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::types::{Call, Config, Fault, QrLogin, QrStep, SentMessage, TypingEvent, Upload};

/// Injected message ids start above 2^53 so a client that parses uint64 ids through a
/// float (JavaScript's problem, §B.2) gets them wrong and a test notices.
pub const FIRST_MESSAGE_ID: u64 = 7_300_000_000_000_000_001;

/// A blob on the fake CDN.
#[derive(Debug, Clone)]
pub struct Blob {
    pub cipher: Vec<u8>,
    /// Index into `State::uploads` when the bot uploaded it.
    pub upload: Option<usize>,
}

#[derive(Debug, Default)]
pub struct State {
    /// Every user message, in `seq` order (`seq` = index + 1). Kept: the cursor decides
    /// what a poll gets, so an old cursor gets old messages again.
    pub inbox: Vec<Value>,
    pub next_message_id: u64,
    /// The newest `context_token` a `getupdates` answer gave the bot, per peer.
    pub delivered_tokens: HashMap<String, String>,
    /// `getupdates` calls being held now.
    pub waiting_polls: usize,
    pub sent: Vec<SentMessage>,
    pub client_ids: HashSet<String>,
    /// Every `X-WECHAT-UIN` seen: a reused one means the client does not make a fresh one.
    pub uins: HashSet<String>,
    pub typing: Vec<TypingEvent>,
    /// `typing_ticket` → the peer it was issued for.
    pub tickets: HashMap<String, String>,
    pub uploads: Vec<Upload>,
    /// `encrypt_query_param` (download parameter) → blob.
    pub blobs: HashMap<String, Blob>,
    pub qrs: BTreeMap<String, QrLogin>,
    /// Scripts for the next QR codes issued, oldest first.
    pub qr_scripts: VecDeque<Vec<QrStep>>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    /// Peers whose sends are refused as over the rate (`ret = -2`, empty `errmsg`).
    pub throttled: HashSet<String>,
    pub calls: Vec<Call>,
    pub counts: BTreeMap<String, u64>,
    pub notify_started: bool,
    pub config: Config,
}

impl State {
    /// Takes the next injected fault for `endpoint`, if any.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<Fault> {
        let queue = self.faults.get_mut(endpoint)?;
        let fault = queue.pop_front();
        if queue.is_empty() {
            self.faults.remove(endpoint);
        }
        fault
    }

    pub fn allocate_message_id(&mut self) -> u64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    pub fn record(&mut self, mut call: Call) {
        call.seq = self.calls.len() as u64 + 1;
        *self.counts.entry(call.endpoint.clone()).or_default() += 1;
        self.calls.push(call);
    }
}

/// The fixed identity of a running fake.
#[derive(Debug, Clone)]
pub struct Identity {
    pub token: String,
    pub bot_id: String,
    pub owner_user_id: String,
    pub route_tag: Option<String>,
    /// `http://127.0.0.1:PORT` of the main listener.
    pub base_url: String,
    /// `127.0.0.1:PORT` of the second listener.
    pub redirect_host: String,
}

/// The state shared by the server's tasks and the test's handle.
pub struct Shared {
    pub id: Identity,
    state: Mutex<State>,
    /// Woken (all waiters) on every change.
    pub changed: Notify,
    pub stop: CancellationToken,
}

impl Shared {
    pub fn new(id: Identity, config: Config) -> Shared {
        let state = State { next_message_id: FIRST_MESSAGE_ID, config, ..State::default() };
        Shared { id, state: Mutex::new(state), changed: Notify::new(), stop: CancellationToken::new() }
    }

    /// The state; a panic while holding the lock cannot leave it half-written in a way
    /// worse than the test already failing, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state and wakes every waiter.
    pub fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.notify_waiters();
        out
    }

    pub fn cdn_base_url(&self) -> String {
        format!("{}/c2c", self.id.base_url)
    }
}
