//! The runner: where every chat message goes after its adapter received it.
//!
//! One message, start to end: the adapter hands it to [`Runner::deliver`], which stores
//! it in the inbound log before answering (only then may the adapter advance its
//! platform cursor, so a crash re-reads the message and the log drops the copy). The
//! message then goes through admission (who may talk) to the actor of its session key:
//! one task per active conversation, running its turns one at a time, deciding what a
//! message sent mid-turn does (interrupt, queue, steer), and handing the answer to the
//! platform's [`Replies`] (the durable outbox). After a restart, [`Runner::resume`]
//! runs again whatever the log says was received and never answered.

mod actor;
mod busy;
mod commands;
mod context;
pub mod gate;
pub mod intake;
mod replies;
pub mod reset;
mod resolve;
mod resume;
mod session_commands;
mod turn;
pub mod watcher;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use herald_core::config::{AccessConfig, SessionsConfig};
use herald_core::{Inbound, SessionKeyPolicy, build_session_key};
use herald_store::Store;
use jiff::tz::TimeZone;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conversation::Conversations;

pub use gate::{AccessGate, Admit, Gate};
pub use replies::{Origin, Replies, ReplyError, ReplyStream};
pub use resume::{MAX_FAILED_RESUMES, ResumeReport};
pub use session_commands::{SESSION_COMMANDS, SessionCommand};

use actor::{Job, Work};

/// What the runner is built from.
pub struct RunnerSetup {
    pub store: Arc<dyn Store>,
    pub conversations: Arc<Conversations>,
    pub config: SessionsConfig,
    /// For daily resets and the time the model is told.
    pub time_zone: TimeZone,
    /// Admission: who may talk, pairing, duplicate content.
    pub gate: Arc<dyn Gate>,
    /// Slash command tiers (and the allowlists `/whoami` explains).
    pub access: AccessConfig,
    /// Turns may be interrupted by the shutdown; they are then resumed at the next start.
    pub shutdown: CancellationToken,
    /// Milliseconds since the epoch, for reset policies and the resume window.
    pub clock: Clock,
}

/// The runner's clock; tests move it forward to make sessions expire.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| jiff::Timestamp::now().as_millisecond())
}

/// The runner. Cheap to clone; every clone is the same runner.
#[derive(Clone)]
pub struct Runner {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub conversations: Arc<Conversations>,
    pub config: SessionsConfig,
    pub time_zone: TimeZone,
    pub gate: Arc<dyn Gate>,
    pub access: AccessConfig,
    pub shutdown: CancellationToken,
    pub key_policy: SessionKeyPolicy,
    pub clock: Clock,
    replies: RwLock<HashMap<String, Arc<dyn Replies>>>,
    actors: Mutex<HashMap<String, mpsc::UnboundedSender<Work>>>,
    pub tasks: TaskTracker,
    pub active_turns: AtomicUsize,
    /// Messages taken but not yet done (queued or in a turn); see [`intake`].
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// The platforms replies can go to.
    pub fn platforms(&self) -> Vec<String> {
        self.replies.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }

    pub fn replies(&self, platform: &str) -> Option<Arc<dyn Replies>> {
        self.replies.read().unwrap_or_else(PoisonError::into_inner).get(platform).cloned()
    }

    /// Hands `work` to the actor of `key`, starting one when none runs. Under the map's
    /// lock, so an actor that is retiring cannot drop it: it retires only under the
    /// same lock and only with an empty mailbox.
    pub fn send(self: &Arc<Self>, key: &str, work: Work) {
        let mut actors = self.actors.lock().unwrap_or_else(PoisonError::into_inner);
        let work = match actors.get(key) {
            Some(tx) => match tx.send(work) {
                Ok(()) => return,
                Err(mpsc::error::SendError(work)) => work,
            },
            None => work,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(work);
        actors.insert(key.to_string(), tx);
        let actor = actor::Actor::new(key.to_string(), self.clone());
        self.tasks.spawn(actor.run(rx));
    }

    /// Called by an idle actor: it leaves the map if nothing waits for it. Returns
    /// whether it retired.
    pub fn retire(&self, key: &str, rx: &mut mpsc::UnboundedReceiver<Work>) -> bool {
        let mut actors = self.actors.lock().unwrap_or_else(PoisonError::into_inner);
        if !rx.is_empty() {
            return false;
        }
        rx.close();
        actors.remove(key);
        true
    }
}

/// How long an actor with nothing to do stays around before it retires.
const ACTOR_IDLE: Duration = Duration::from_secs(600);

impl Runner {
    pub fn new(setup: RunnerSetup) -> Runner {
        let key_policy = SessionKeyPolicy {
            group_sessions_per_user: setup.config.group_sessions_per_user,
            thread_sessions_per_user: setup.config.thread_sessions_per_user,
            multiplex_profiles: false,
        };
        Runner {
            shared: Arc::new(Shared {
                store: setup.store,
                conversations: setup.conversations,
                config: setup.config,
                time_zone: setup.time_zone,
                gate: setup.gate,
                access: setup.access,
                shutdown: setup.shutdown,
                key_policy,
                clock: setup.clock,
                replies: RwLock::new(HashMap::new()),
                actors: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                active_turns: AtomicUsize::new(0),
                in_flight: Arc::new(tokio::sync::Semaphore::new(intake::MAX_IN_FLIGHT)),
            }),
        }
    }

    /// Lowers the in-flight limit to `limit` messages (from [`intake::MAX_IN_FLIGHT`]).
    /// Call it before the first message arrives.
    pub fn limit_in_flight(&self, limit: usize) {
        self.shared.in_flight.forget_permits(intake::MAX_IN_FLIGHT.saturating_sub(limit.max(1)));
    }

    /// Where replies to `platform` go. Set before its adapter starts.
    pub fn add_platform(&self, platform: &str, replies: Arc<dyn Replies>) {
        self.shared.replies.write().unwrap_or_else(PoisonError::into_inner).insert(platform.to_string(), replies);
    }

    /// Starts the expiry watcher; it stops with the shutdown.
    pub fn spawn_expiry_watcher(&self) {
        self.shared.tasks.spawn(watcher::run(self.shared.clone()));
    }

    /// One expiry sweep now; returns how many sessions it finalized.
    pub async fn sweep_expired(&self) -> Result<usize, herald_store::StoreError> {
        watcher::sweep(&self.shared).await
    }

    /// Turns running now.
    pub fn active_turns(&self) -> usize {
        self.shared.active_turns.load(Ordering::Relaxed)
    }

    /// Conversations with an actor now.
    pub fn active_sessions(&self) -> usize {
        self.shared.actors.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Waits until every actor and turn has finished, after the shutdown token was
    /// cancelled (turns stop; their messages stay unfinished in the log and are resumed
    /// at the next start). `false` when `grace` ran out first.
    pub async fn wait_stopped(&self, grace: Duration) -> bool {
        self.shared.tasks.close();
        tokio::time::timeout(grace, self.shared.tasks.wait()).await.is_ok()
    }

    /// Re-runs what the log holds unfinished for `platform`: messages received but not
    /// answered when the process stopped. Call once at startup, before its adapter runs.
    pub async fn resume(&self, platform: &str) -> Result<ResumeReport, herald_store::StoreError> {
        resume::resume(&self.shared, platform).await
    }

    /// The session key of a message, built like Hermes's `build_session_key`.
    pub fn session_key(&self, inbound: &Inbound) -> String {
        build_session_key(&inbound.source, self.shared.key_policy, None).to_string()
    }

    /// Admits and dispatches a recorded message off the adapter's path. `permit` is
    /// its place in the in-flight limit, held until the message is done.
    fn route(&self, inbound_id: i64, inbound: Inbound, permit: Option<OwnedSemaphorePermit>) {
        self.route_all(vec![(inbound_id, inbound, permit)]);
    }

    /// [`Runner::route`] for a batch, one message after the other in one task, so two
    /// messages of one chat reach its session in the platform's order.
    fn route_all(&self, batch: Vec<(i64, Inbound, Option<OwnedSemaphorePermit>)>) {
        let shared = self.shared.clone();
        self.shared.tasks.spawn(async move {
            for (inbound_id, inbound, permit) in batch {
                dispatch(&shared, inbound_id, inbound, permit).await;
            }
        });
    }
}

/// Admission, then a command or the session's queue.
async fn dispatch(shared: &Arc<Shared>, inbound_id: i64, inbound: Inbound, permit: Option<OwnedSemaphorePermit>) {
    let key = build_session_key(&inbound.source, shared.key_policy, None).to_string();
    match shared.gate.admit(&inbound).await {
        Admit::Pass => {}
        Admit::Reply(text) => {
            turn::reply_and_finish(shared, &inbound, &text, inbound_id, "unauthorized").await;
            return;
        }
        Admit::Drop(outcome) => {
            finish(shared, inbound_id, outcome).await;
            return;
        }
    }
    if commands::dispatch(shared, &key, inbound_id, &inbound).await {
        return;
    }
    shared.send(&key, Work::Message(Job::new(inbound_id, inbound).holding(permit)));
}

/// Marks an inbound message done; failing to is logged (the restart would only see it
/// again and the outbox keeps replies from going out twice).
pub(crate) async fn finish(shared: &Shared, inbound_id: i64, outcome: &str) {
    if let Err(error) = shared.store.finish_inbound(inbound_id, outcome).await {
        tracing::warn!(inbound_id, outcome, %error, "cannot mark the message finished");
    }
}

/// The identity of a message in the inbound log: the platform's message id in its chat
/// when there is one, else what the message is (sender, chat, time and text).
pub fn dedup_key(inbound: &Inbound) -> String {
    let chat = inbound.source.chat_id.as_deref().unwrap_or("");
    match &inbound.message_id {
        Some(id) => format!("{chat}:{id}"),
        None => {
            // A stable hash: the key must mean the same after an upgrade and restart.
            use sha2::Digest;
            let digest = sha2::Sha256::digest(inbound.text.as_bytes());
            format!(
                "{chat}:{}:{}:{}",
                inbound.source.user_id.as_deref().unwrap_or(""),
                inbound.timestamp_ms,
                hex::encode(&digest[..8])
            )
        }
    }
}
