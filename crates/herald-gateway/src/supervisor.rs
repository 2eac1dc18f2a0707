//! The adapter supervisor: every adapter runs in its own task, `adapter.run(sink)`, and
//! is reconnected when it fails, so one platform going down never stops another.
//!
//! One attempt: the state becomes `connecting`; the adapter has `connect_timeout` (30 s)
//! to call [`InboundSink::connected`], which makes it `connected`. When it fails, times
//! out, panics or ends, the state becomes `retrying` with the reason and the next attempt
//! waits `min(30·2^(n−1), 300)` seconds plus up to 10 % jitter, `n` counting failures
//! since the last successful connection. [`AdapterError::Fatal`] (a refused token) makes
//! it `fatal`: retrying cannot help until a person changes something, so that adapter
//! alone stops. Cancelling the token stops every adapter (their `run` futures are dropped).
//!
//! States use Hermes's names in `gateway_state.json` and `/health/detailed`: the issue's
//! "starting" is `connecting`, its "disconnected" is `retrying`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use herald_core::{Accepted, Adapter, AdapterError, Inbound, InboundSink, SinkError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::GatewayStatus;
use crate::lifecycle::{CredentialLock, CredentialLockError};

/// How long an adapter may take to report [`InboundSink::connected`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The first reconnect delay; it doubles with every failure in a row.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// The longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub connect_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Up to this fraction of each delay is added at random, so gateways that lost the
    /// platform together do not return in lockstep. 0 disables it (tests).
    pub jitter: f64,
    /// The machine-wide directory of credential locks; `None` takes no locks.
    pub credential_lock_dir: Option<PathBuf>,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            connect_timeout: CONNECT_TIMEOUT,
            backoff_base: BACKOFF_BASE,
            backoff_max: BACKOFF_MAX,
            jitter: 0.1,
            credential_lock_dir: None,
        }
    }
}

/// The delay before the next attempt after `failures` failures in a row (at least 1):
/// `min(base·2^(failures−1), max)`, before jitter.
pub fn backoff_delay(failures: u32, base: Duration, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(31);
    base.checked_mul(1u32 << exponent).map_or(max, |d| d.min(max))
}

/// The state of one platform connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformState {
    Connecting,
    Connected,
    /// The last attempt failed and the next one waits for the backoff, or the adapter
    /// paused itself (the error says why and for how long).
    Retrying,
    /// It will not be retried (bad credentials, a credential used by another gateway).
    Fatal,
    /// The gateway stopped it.
    Stopped,
}

impl PlatformState {
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformState::Connecting => "connecting",
            PlatformState::Connected => "connected",
            PlatformState::Retrying => "retrying",
            PlatformState::Fatal => "fatal",
            PlatformState::Stopped => "stopped",
        }
    }
}

/// What the supervisor knows about one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformReport {
    pub state: PlatformState,
    /// Why it is not connected (never contains a credential: adapters' errors don't).
    pub error: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Failures since the last successful connection.
    pub failures: u32,
}

type Reports = BTreeMap<String, PlatformReport>;

/// Runs adapters. Cheap to share by reference; one per gateway.
pub struct Supervisor {
    status: Arc<GatewayStatus>,
    config: SupervisorConfig,
    cancel: CancellationToken,
    tracker: TaskTracker,
    reports: Arc<watch::Sender<Reports>>,
    /// Each running adapter's own stop switch (a child of `cancel`) and task.
    running: Mutex<BTreeMap<String, (CancellationToken, tokio::task::JoinHandle<()>)>>,
}

impl Supervisor {
    /// A supervisor reporting into `status`; cancelling `cancel` (or calling
    /// [`Supervisor::shutdown`]) stops every adapter.
    pub fn new(status: Arc<GatewayStatus>, config: SupervisorConfig, cancel: CancellationToken) -> Supervisor {
        Supervisor {
            status,
            config,
            cancel,
            tracker: TaskTracker::new(),
            reports: Arc::new(watch::channel(Reports::new()).0),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Starts `adapter` under its platform's name, handing its messages to `sink`.
    pub fn start(&self, adapter: Arc<dyn Adapter>, sink: Arc<dyn InboundSink>) -> Result<(), CredentialLockError> {
        let name = adapter.platform().as_str().to_owned();
        self.start_named(name, adapter, sink)
    }

    /// Starts `adapter` as `name` (for a second account of one platform). When its
    /// credential is locked by another gateway on this machine, the platform is `fatal`
    /// with the error (which names the holder's pid) and the adapter never runs.
    pub fn start_named(
        &self,
        name: String,
        adapter: Arc<dyn Adapter>,
        sink: Arc<dyn InboundSink>,
    ) -> Result<(), CredentialLockError> {
        let reporter = Reporter { name: name.clone(), status: self.status.clone(), reports: self.reports.clone() };
        let lock = match (&self.config.credential_lock_dir, adapter.credential_scope()) {
            (Some(dir), Some(scope)) => match CredentialLock::acquire(dir, &name, &scope) {
                Ok(lock) => Some(lock),
                Err(error) => {
                    tracing::error!(platform = %name, "{error}");
                    reporter.set(PlatformState::Fatal, Some(error.to_string()), 0, 0);
                    return Err(error);
                }
            },
            _ => None,
        };
        let cancel = self.cancel.child_token();
        let task = AdapterTask { adapter, sink, config: self.config.clone(), cancel: cancel.clone(), reporter };
        let handle = self.tracker.spawn(async move {
            // Held while the adapter may run; released when its task ends.
            let _lock = lock;
            task.run().await;
        });
        let old = self.running.lock().unwrap_or_else(PoisonError::into_inner).insert(name.clone(), (cancel, handle));
        if let Some((old_cancel, _)) = old {
            // Two tasks under one name would poll one account twice.
            tracing::warn!(platform = %name, "an adapter was started over a running one; stopping the old one");
            old_cancel.cancel();
        }
        Ok(())
    }

    /// Stops the adapter running as `name` and waits for its task to end (its
    /// credential lock is released then); `false` when none was running.
    pub async fn stop(&self, name: &str) -> bool {
        let entry = self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
        match entry {
            Some((cancel, handle)) => {
                cancel.cancel();
                let _ = handle.await;
                true
            }
            None => false,
        }
    }

    /// The last known state of `platform`.
    pub fn report(&self, platform: &str) -> Option<PlatformReport> {
        self.reports.borrow().get(platform).cloned()
    }

    /// Every platform's state, by name.
    pub fn reports(&self) -> BTreeMap<String, PlatformReport> {
        self.reports.borrow().clone()
    }

    /// Follows the states as they change (`wait_for` a platform to connect, ...).
    pub fn watch(&self) -> watch::Receiver<BTreeMap<String, PlatformReport>> {
        self.reports.subscribe()
    }

    /// Stops every adapter and waits for their tasks to end.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[derive(Clone)]
struct Reporter {
    name: String,
    status: Arc<GatewayStatus>,
    reports: Arc<watch::Sender<Reports>>,
}

impl Reporter {
    fn set(&self, state: PlatformState, error: Option<String>, attempts: u32, failures: u32) {
        if let Err(e) = self.status.set_platform(&self.name, state.as_str(), error.as_deref()) {
            tracing::warn!(error = %e, "cannot write the gateway state file");
        }
        self.reports.send_modify(|reports| {
            reports.insert(self.name.clone(), PlatformReport { state, error, attempts, failures });
        });
    }
}

struct AdapterTask {
    adapter: Arc<dyn Adapter>,
    sink: Arc<dyn InboundSink>,
    config: SupervisorConfig,
    cancel: CancellationToken,
    reporter: Reporter,
}

/// How one attempt ended.
enum Attempt {
    Cancelled,
    Ended { result: Result<(), AdapterError>, was_connected: bool },
    TimedOut,
}

impl AdapterTask {
    async fn run(self) {
        let name = self.reporter.name.clone();
        let (mut attempts, mut failures) = (0u32, 0u32);
        loop {
            attempts += 1;
            self.reporter.set(PlatformState::Connecting, None, attempts, failures);
            tracing::info!(platform = %name, attempt = attempts, "connecting");
            let reason = match self.attempt(attempts, failures).await {
                Attempt::Cancelled => break,
                Attempt::Ended { result: Err(AdapterError::Fatal(message)), .. } => {
                    tracing::error!(platform = %name, "{message}; not retrying until the configuration changes");
                    self.reporter.set(PlatformState::Fatal, Some(message), attempts, failures + 1);
                    return;
                }
                Attempt::Ended { result, was_connected } => {
                    if was_connected {
                        failures = 0;
                    }
                    match result {
                        Err(error) => error.to_string(),
                        Ok(()) => "the platform ended the session".to_owned(),
                    }
                }
                Attempt::TimedOut => format!("not connected within {} s", self.config.connect_timeout.as_secs()),
            };
            failures += 1;
            let delay = self.delay(failures);
            tracing::warn!(platform = %name, failures, retry_in_s = delay.as_secs_f64(), "{reason}");
            self.reporter.set(PlatformState::Retrying, Some(reason), attempts, failures);
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        tracing::info!(platform = %name, "stopped");
        let last = self.reporter.reports.borrow().get(&name).map(|r| (r.attempts, r.failures)).unwrap_or_default();
        self.reporter.set(PlatformState::Stopped, None, last.0, last.1);
    }

    async fn attempt(&self, attempts: u32, failures: u32) -> Attempt {
        let connected = Arc::new(AtomicBool::new(false));
        let sink: Arc<dyn InboundSink> = Arc::new(SupervisedSink {
            inner: self.sink.clone(),
            connected: connected.clone(),
            reporter: self.reporter.clone(),
            counts: Mutex::new((attempts, failures)),
        });
        // A panicking adapter is one more failed attempt, not a dead task.
        let run = std::panic::AssertUnwindSafe(self.adapter.run(sink)).catch_unwind();
        tokio::pin!(run);
        let timer = tokio::time::sleep(self.config.connect_timeout);
        tokio::pin!(timer);
        let mut timer_armed = true;
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Attempt::Cancelled,
                ended = &mut run => {
                    let result = ended.unwrap_or_else(|_| Err(AdapterError::Disconnected("the adapter panicked".into())));
                    return Attempt::Ended { result, was_connected: connected.load(Ordering::SeqCst) };
                }
                _ = &mut timer, if timer_armed => {
                    timer_armed = false;
                    if !connected.load(Ordering::SeqCst) {
                        return Attempt::TimedOut;
                    }
                }
            }
        }
    }

    fn delay(&self, failures: u32) -> Duration {
        let delay = backoff_delay(failures, self.config.backoff_base, self.config.backoff_max);
        if self.config.jitter <= 0.0 {
            return delay;
        }
        delay.mul_f64(1.0 + self.config.jitter * rand::random::<f64>())
    }
}

/// The sink an adapter sees: messages go to the gateway's sink, and `connected` is
/// noticed here first.
struct SupervisedSink {
    inner: Arc<dyn InboundSink>,
    connected: Arc<AtomicBool>,
    reporter: Reporter,
    counts: Mutex<(u32, u32)>,
}

#[async_trait]
impl InboundSink for SupervisedSink {
    async fn deliver(&self, message: Inbound) -> Result<Accepted, SinkError> {
        self.inner.deliver(message).await
    }

    async fn deliver_all(&self, messages: Vec<Inbound>) -> Vec<Result<Accepted, SinkError>> {
        self.inner.deliver_all(messages).await
    }

    fn connected(&self, detail: Option<String>) {
        self.connected.store(true, Ordering::SeqCst);
        let (attempts, _) = *self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        tracing::info!(platform = %self.reporter.name, detail = detail.as_deref().unwrap_or(""), "connected");
        self.reporter.set(PlatformState::Connected, None, attempts, 0);
        self.inner.connected(detail);
    }

    fn paused(&self, reason: &str) {
        let (attempts, failures) = *self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        tracing::warn!(platform = %self.reporter.name, "paused: {reason}");
        self.reporter.set(PlatformState::Retrying, Some(reason.to_string()), attempts, failures);
        self.inner.paused(reason);
    }
}

#[cfg(test)]
mod tests;
