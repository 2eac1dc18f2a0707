//! Running turns: the concurrency cap, the drain, and cancellation.
//!
//! Every turn runs in its own task under a cancellation token that is a child of the
//! server's. Cancelling drops the backend's `run_turn` future (which is how the backend
//! learns to stop; it still records what was done). The token is cancelled when the
//! consumer goes away (a client disconnect drops the [`TurnHandle`]), when a run is
//! stopped, and for every turn when the drain times out.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_core::backend::{Backend, BackendError, TurnEvent, TurnOutcome, TurnRequest, TurnStatus};
use herald_core::{ToolCall, Usage};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::errors::ApiError;

pub(crate) type TurnResult = Result<TurnOutcome, BackendError>;

/// Counts turns, enforces the cap and holds the drain state.
pub(crate) struct TurnTracker {
    in_flight: AtomicUsize,
    /// 0 = no cap.
    cap: usize,
    draining: AtomicBool,
    root: CancellationToken,
    changed: Notify,
}

impl TurnTracker {
    pub fn new(cap: u32) -> Self {
        TurnTracker {
            in_flight: AtomicUsize::new(0),
            cap: cap as usize,
            draining: AtomicBool::new(false),
            root: CancellationToken::new(),
            changed: Notify::new(),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Cancels every running turn and every turn started from now on.
    pub fn cancel_all(&self) {
        self.root.cancel();
    }

    /// Reserves a slot for a turn. Taken when the request is admitted, before its body is
    /// read, so a request that slips in just before the drain begins is still waited for.
    pub fn admit(self: &Arc<Self>) -> Result<Permit, ApiError> {
        if self.is_draining() {
            return Err(ApiError::draining());
        }
        let mut current = self.in_flight.load(Ordering::SeqCst);
        loop {
            if self.cap > 0 && current >= self.cap {
                return Err(ApiError::rate_limited(self.cap));
            }
            match self.in_flight.compare_exchange(current, current + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(Permit { tracker: self.clone() }),
                Err(now) => current = now,
            }
        }
    }

    /// Waits until no turn is running; `false` if `timeout` passed first.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight() == 0;
            }
        }
    }
}

/// One reserved turn slot; released on drop.
pub(crate) struct Permit {
    tracker: Arc<TurnTracker>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.tracker.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.tracker.changed.notify_waiters();
    }
}

/// What the turn produced so far, so a cancelled turn can still report its partial text.
#[derive(Default)]
struct Partial {
    text: String,
    usage: Usage,
    calls: Vec<(ToolCall, String)>,
}

impl Partial {
    fn observe(&mut self, event: &TurnEvent) {
        match event {
            TurnEvent::TextDelta(t) => self.text.push_str(t),
            TurnEvent::Usage(u) => self.usage += *u,
            TurnEvent::ToolStarted { id, name, arguments } => self
                .calls
                .push((ToolCall { id: id.clone(), name: name.clone(), arguments: arguments.clone() }, String::new())),
            TurnEvent::ToolCompleted { id, result, .. } => {
                if let Some(call) = self.calls.iter_mut().rev().find(|(c, _)| &c.id == id) {
                    call.1 = result.clone();
                }
            }
            TurnEvent::ReasoningDelta(_) => {}
        }
    }
}

/// One step of a running turn, as its consumer sees it.
pub(crate) enum Step {
    Event(TurnEvent),
    Done(TurnResult),
    /// Nothing happened for the keepalive interval.
    Idle,
}

/// The consumer's end of a running turn. Dropping it cancels the turn.
pub(crate) struct TurnHandle {
    events: mpsc::UnboundedReceiver<TurnEvent>,
    events_open: bool,
    outcome: Option<oneshot::Receiver<TurnResult>>,
    pending: Option<TurnResult>,
    token: CancellationToken,
    _guard: DropGuard,
}

/// Starts a turn in its own task. The permit is released only after the backend's future
/// has returned or been dropped, so "no turn in flight" means the backend has been told
/// to stop every turn (recording what was done is then the backend's part).
pub(crate) fn spawn_turn(
    backend: Arc<dyn Backend>,
    tracker: &TurnTracker,
    permit: Permit,
    request: TurnRequest,
) -> TurnHandle {
    let token = tracker.root.child_token();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (outcome_tx, outcome) = oneshot::channel();
    let partial = Arc::new(Mutex::new(Partial::default()));
    let seen = partial.clone();
    let sink = Box::new(move |event: TurnEvent| {
        if let Ok(mut p) = seen.lock() {
            p.observe(&event);
        }
        let _ = events_tx.send(event);
    });
    let session_id = request.session_id.clone();
    let model = request.model.clone().unwrap_or_else(|| backend.model_name());
    let cancel = token.clone();
    tokio::spawn(async move {
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            r = backend.run_turn(request, sink) => Some(r),
        };
        let result = result.unwrap_or_else(|| {
            tracing::info!(session = %session_id, "API turn cancelled");
            let p = std::mem::take(&mut *partial.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(TurnOutcome {
                session_id,
                text: p.text,
                usage: p.usage,
                status: TurnStatus::Cancelled,
                model,
                tool_calls: p.calls,
            })
        });
        // Free the slot before answering, so a client that retries the moment it has its
        // reply is not refused by its own finished turn.
        drop(permit);
        let _ = outcome_tx.send(result);
    });
    TurnHandle {
        events,
        events_open: true,
        outcome: Some(outcome),
        pending: None,
        token: token.clone(),
        _guard: token.drop_guard(),
    }
}

impl TurnHandle {
    /// The next event, or the result once the turn is over (events first).
    pub async fn next(&mut self, keepalive: Option<Duration>) -> Step {
        let wait = async {
            loop {
                if let Some(result) = self.pending.take() {
                    // Events sent before the turn ended are delivered before its result.
                    if let Ok(e) = self.events.try_recv() {
                        self.pending = Some(result);
                        return Step::Event(e);
                    }
                    return Step::Done(result);
                }
                let Some(outcome) = self.outcome.as_mut() else {
                    return Step::Done(Err(BackendError::Internal("turn already finished".into())));
                };
                tokio::select! {
                    biased;
                    event = self.events.recv(), if self.events_open => match event {
                        Some(e) => return Step::Event(e),
                        None => self.events_open = false,
                    },
                    result = outcome => {
                        self.outcome = None;
                        self.pending = Some(result.unwrap_or_else(|_| Err(lost())));
                    }
                }
            }
        };
        match keepalive {
            Some(d) => tokio::time::timeout(d, wait).await.unwrap_or(Step::Idle),
            None => wait.await,
        }
    }

    /// Waits for the result, discarding events.
    pub async fn finish(mut self) -> TurnResult {
        loop {
            if let Step::Done(r) = self.next(None).await {
                return r;
            }
        }
    }

    /// The token that cancels this turn (a run's stop request).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

fn lost() -> BackendError {
    BackendError::Internal("the turn task ended without a result".into())
}
