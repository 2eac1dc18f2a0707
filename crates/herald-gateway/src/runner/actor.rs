//! The actor of one session key: it runs that conversation's turns one at a time and
//! decides what a message arriving mid-turn does.
//!
//! The turn itself runs in its own task so the actor stays free to take `/stop`, queue
//! follow-ups or steer the running turn while the model works.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use herald_agent::Steering;
use herald_core::config::BusyInputMode;
use herald_core::{Inbound, Platform};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::session_commands::SessionCommand;
use super::turn::{self, Ended, TurnDone, TurnJob};
use super::{ACTOR_IDLE, Shared, busy, finish, resolve};

/// A message waiting for, or in, a turn.
#[derive(Debug, Clone)]
pub struct Job {
    pub inbound_id: i64,
    pub inbound: Inbound,
    /// The turn was interrupted by a restart and its message is already in `session_id`.
    pub resume_session: Option<String>,
    /// The message's place in the in-flight limit (`intake`), freed when the last copy
    /// of the job is dropped: after its turn, or when it is merged or steered.
    pub place: Option<Arc<OwnedSemaphorePermit>>,
}

impl Job {
    pub fn new(inbound_id: i64, inbound: Inbound) -> Job {
        Job { inbound_id, inbound, resume_session: None, place: None }
    }

    pub fn holding(mut self, place: Option<OwnedSemaphorePermit>) -> Job {
        self.place = place.map(Arc::new);
        self
    }
}

/// What an actor is asked to do.
pub enum Work {
    /// A message for the conversation.
    Message(Job),
    /// A slash command about the conversation; the job is the message that carried it.
    Command(Job, SessionCommand),
}

struct Running {
    join: JoinHandle<TurnDone>,
    cancel: CancellationToken,
    stopped_by_user: Arc<AtomicBool>,
    steer: Steering,
    /// Steered messages by their inbound id, to finish or requeue when the turn ends.
    steered: HashMap<i64, Job>,
    started: Instant,
}

pub struct Actor {
    pub(super) key: String,
    pub(super) shared: Arc<Shared>,
    running: Option<Running>,
    queue: VecDeque<Job>,
    last_ack: Option<Instant>,
    /// The `/reasoning` level, read from the store once; `/reasoning` keeps it current.
    pub(super) reasoning: Option<Option<herald_agent::ReasoningEffort>>,
}

enum Event {
    Work(Option<Box<Work>>),
    Done(TurnDone),
    Idle,
}

impl Actor {
    pub fn new(key: String, shared: Arc<Shared>) -> Actor {
        Actor { key, shared, running: None, queue: VecDeque::new(), last_ack: None, reasoning: None }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Work>) {
        loop {
            if self.running.is_none()
                && let Some(job) = self.queue.pop_front()
            {
                self.start(job).await;
                continue;
            }
            let event = tokio::select! {
                work = rx.recv() => Event::Work(work.map(Box::new)),
                done = wait(&mut self.running) => Event::Done(done),
                _ = tokio::time::sleep(ACTOR_IDLE), if self.running.is_none() => Event::Idle,
                _ = self.shared.shutdown.cancelled(), if self.running.is_none() => Event::Idle,
            };
            match event {
                Event::Work(Some(work)) => self.on_work(*work).await,
                Event::Work(None) => {
                    if self.running.is_none() && self.queue.is_empty() {
                        return;
                    }
                }
                Event::Done(done) => self.on_done(done).await,
                Event::Idle => {
                    if self.shared.shutdown.is_cancelled() {
                        // Queued messages stay unfinished in the log: the next start runs them.
                        return;
                    }
                    if self.queue.is_empty() && self.shared.retire(&self.key, &mut rx) {
                        return;
                    }
                }
            }
        }
    }

    async fn on_work(&mut self, work: Work) {
        match work {
            Work::Message(job) => match &self.running {
                None => self.queue.push_back(job),
                Some(running) => {
                    let mode = self.shared.config.busy_input_mode;
                    let follow_up = job.inbound.source.platform == Platform::Telegram
                        && running.started.elapsed() < busy::TELEGRAM_FOLLOW_UP;
                    match mode {
                        BusyInputMode::Interrupt if !follow_up => {
                            self.enqueue(job.clone());
                            self.ack(&job, BusyInputMode::Interrupt).await;
                            self.interrupt();
                        }
                        BusyInputMode::Steer => self.steer(job).await,
                        _ => {
                            self.enqueue(job.clone());
                            self.ack(&job, BusyInputMode::Queue).await;
                        }
                    }
                }
            },
            Work::Command(job, command) => self.on_command(job, command).await,
        }
    }

    /// `/queue <prompt>`: its own turn after the current one, whatever the busy mode.
    pub(super) async fn queue_command(&mut self, job: Job) {
        let ack = self.running.is_some();
        self.enqueue(job.clone());
        if ack {
            self.ack(&job, BusyInputMode::Queue).await;
        }
    }

    /// `/steer <prompt>`: into the running turn; queued when nothing runs.
    pub(super) async fn steer_command(&mut self, job: Job) {
        if self.running.is_some() {
            self.steer(job).await;
        } else {
            self.queue.push_back(job);
        }
    }

    /// How long the current turn has run, if one runs.
    pub(super) fn running_for(&self) -> Option<std::time::Duration> {
        self.running.as_ref().map(|r| r.started.elapsed())
    }

    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues a turn; past the cap the text joins the last queued turn, so nothing is
    /// dropped and the queue stays bounded.
    fn enqueue(&mut self, job: Job) {
        if self.queue.len() < busy::MAX_PENDING {
            self.queue.push_back(job);
            return;
        }
        if let Some(last) = self.queue.back_mut() {
            last.inbound.text.push_str("\n\n");
            last.inbound.text.push_str(&job.inbound.text);
            last.inbound.media.extend(job.inbound.media);
        }
        let (shared, id) = (self.shared.clone(), job.inbound_id);
        self.shared.tasks.spawn(async move { finish(&shared, id, "merged").await });
    }

    async fn steer(&mut self, job: Job) {
        let Some(running) = self.running.as_mut() else {
            self.queue.push_back(job);
            return;
        };
        if running.steer.push(job.inbound_id as u64, super::turn::user_text(&job.inbound)) {
            running.steered.insert(job.inbound_id, job.clone());
            self.ack(&job, BusyInputMode::Steer).await;
        } else {
            self.enqueue(job.clone());
            self.ack(&job, BusyInputMode::Queue).await;
        }
    }

    async fn reasoning_level(&mut self) -> Option<herald_agent::ReasoningEffort> {
        if let Some(level) = self.reasoning {
            return level;
        }
        let stored = self.shared.store.state_get(super::session_commands::REASONING_NAMESPACE, &self.key).await;
        let level = stored.ok().flatten().and_then(|l| herald_agent::ReasoningEffort::parse(&l));
        self.reasoning = Some(level);
        level
    }

    /// Stops the running turn as the user's stop; `false` when none runs.
    pub(super) fn interrupt(&mut self) -> bool {
        match &self.running {
            Some(running) => {
                running.stopped_by_user.store(true, Ordering::SeqCst);
                running.cancel.cancel();
                true
            }
            None => false,
        }
    }

    async fn ack(&mut self, job: &Job, mode: BusyInputMode) {
        if !self.shared.config.busy_ack_enabled {
            return;
        }
        let now = Instant::now();
        if !busy::ack_due(self.last_ack, now) {
            return;
        }
        self.last_ack = Some(now);
        let elapsed = self.running.as_ref().map(|r| r.started.elapsed()).unwrap_or_default();
        if let Some(replies) = self.shared.replies(job.inbound.source.platform.as_str()) {
            turn::notify(&replies, &job.inbound, None, &busy::ack_text(mode, elapsed)).await;
        }
    }

    async fn start(&mut self, job: Job) {
        let now = (self.shared.clock)();
        let (session, note) = match &job.resume_session {
            Some(id) => match self.shared.store.session(id).await {
                Ok(Some(record)) => (resolve::existing(&record), None),
                Ok(None) | Err(_) => {
                    tracing::warn!(session = %id, inbound_id = job.inbound_id, "the session to resume is gone");
                    finish(&self.shared, job.inbound_id, "failed").await;
                    return;
                }
            },
            None => match resolve::resolve(&self.shared, &self.key, &job.inbound, now).await {
                Ok(resolved) => {
                    if let (Some(reason), true) = (&resolved.reset, resolved.notify)
                        && let Some(replies) = self.shared.replies(job.inbound.source.platform.as_str())
                    {
                        turn::notify(&replies, &job.inbound, resolved.session.id.as_deref(), &reason.notice()).await;
                    }
                    let note = resolved.reset.as_ref().map(|r| r.system_note().to_string());
                    (resolved.session, note)
                }
                Err(error) => {
                    tracing::error!(%error, inbound_id = job.inbound_id, "cannot open the session");
                    turn::reply_and_finish(
                        &self.shared,
                        &job.inbound,
                        "⚠️ The message could not be handled: the session store failed. Please try again.",
                        job.inbound_id,
                        "failed",
                    )
                    .await;
                    return;
                }
            },
        };
        let reasoning = self.reasoning_level().await;
        let cancel = self.shared.shutdown.child_token();
        let stopped_by_user = Arc::new(AtomicBool::new(false));
        let steer = Steering::default();
        let place = job.place;
        let turn = TurnJob {
            inbound_id: job.inbound_id,
            inbound: job.inbound,
            session,
            note,
            resume: job.resume_session.is_some(),
            reasoning,
            steer: steer.clone(),
            cancel: cancel.clone(),
            stopped_by_user: stopped_by_user.clone(),
        };
        let shared = self.shared.clone();
        shared.active_turns.fetch_add(1, Ordering::Relaxed);
        let join = self.shared.tasks.spawn(async move {
            let _place = place;
            let done = turn::run(shared.clone(), turn).await;
            shared.active_turns.fetch_sub(1, Ordering::Relaxed);
            done
        });
        self.running =
            Some(Running { join, cancel, stopped_by_user, steer, steered: HashMap::new(), started: Instant::now() });
    }

    async fn on_done(&mut self, done: TurnDone) {
        let Some(running) = self.running.take() else { return };
        let (taken, untaken) = running.steer.close();
        let mut steered = running.steered;
        for tag in taken {
            if steered.remove(&(tag as i64)).is_some() {
                finish(&self.shared, tag as i64, "steered").await;
            }
        }
        // What the turn never took runs next, before anything queued later.
        for (tag, _) in untaken.into_iter().rev() {
            if let Some(job) = steered.remove(&(tag as i64)) {
                self.queue.push_front(job);
            }
        }
        if done.ended == Ended::Shutdown {
            self.queue.clear();
        }
    }
}

async fn wait(running: &mut Option<Running>) -> TurnDone {
    match running {
        Some(r) => match (&mut r.join).await {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(%error, "a turn task failed");
                TurnDone { ended: Ended::Failed }
            }
        },
        None => std::future::pending().await,
    }
}
