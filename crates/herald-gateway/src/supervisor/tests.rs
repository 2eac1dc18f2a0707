//! The supervisor against scripted adapters, in paused time: every delay below is the
//! virtual clock's, so the tests are exact and take no real time.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;

use herald_core::{Capabilities, CredentialScope, LengthUnit, OutboundOp, Platform, SendError, Sent, Source, Target};
use tokio::time::Instant;

use super::*;

/// What one `run` call of the scripted adapter does.
#[derive(Debug, Clone)]
enum Step {
    /// Fails at once with `Disconnected`.
    Drop,
    /// Fails at once with `Fatal`.
    Fatal,
    /// Never connects and never returns.
    Hang,
    /// Connects, delivers one message, then fails after `after`.
    ConnectThenDrop {
        after: Duration,
    },
    /// Connects and stays.
    Stay,
    /// Connects, pauses for `pause` (WeChat's expired session), connects again, stays.
    PauseThenConnect {
        pause: Duration,
    },
    Panic,
}

struct Scripted {
    platform: Platform,
    steps: Mutex<VecDeque<Step>>,
    starts: Mutex<Vec<Instant>>,
    running: Arc<AtomicUsize>,
    token: Option<String>,
}

impl Scripted {
    fn new(platform: Platform, steps: &[Step]) -> Arc<Scripted> {
        Arc::new(Scripted {
            platform,
            steps: Mutex::new(steps.iter().cloned().collect()),
            starts: Mutex::new(Vec::new()),
            running: Arc::new(AtomicUsize::new(0)),
            token: None,
        })
    }

    fn with_token(platform: Platform, token: &str) -> Arc<Scripted> {
        Arc::new(Scripted {
            platform,
            steps: Mutex::new([Step::Stay].into_iter().collect()),
            starts: Mutex::new(Vec::new()),
            running: Arc::new(AtomicUsize::new(0)),
            token: Some(token.to_owned()),
        })
    }

    /// The gaps between the starts of consecutive attempts.
    fn gaps(&self) -> Vec<Duration> {
        let starts = self.starts.lock().unwrap();
        starts.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn attempts(&self) -> usize {
        self.starts.lock().unwrap().len()
    }
}

/// Counts `run` futures alive, so tests see that cancellation drops them.
struct Running(Arc<AtomicUsize>);
impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Adapter for Scripted {
    fn platform(&self) -> Platform {
        self.platform.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_message_len: 4096,
            length_unit: LengthUnit::Chars,
            edit: false,
            delete: false,
            draft_in_dm: false,
            typing: false,
            media: false,
            fallback_on_final_edit_flood: false,
        }
    }

    fn credential_scope(&self) -> Option<CredentialScope> {
        self.token.as_ref().map(|t| CredentialScope { scope: "test-token", identity: t.clone() })
    }

    async fn run(&self, sink: Arc<dyn InboundSink>) -> Result<(), AdapterError> {
        self.starts.lock().unwrap().push(Instant::now());
        self.running.fetch_add(1, Ordering::SeqCst);
        let _running = Running(self.running.clone());
        let step = self.steps.lock().unwrap().pop_front().unwrap_or(Step::Stay);
        match step {
            Step::Drop => Err(AdapterError::Disconnected("connection reset".into())),
            Step::Fatal => Err(AdapterError::Fatal("the bot token was refused (401)".into())),
            Step::Hang => std::future::pending().await,
            Step::Panic => panic!("scripted panic"),
            Step::ConnectThenDrop { after } => {
                sink.connected(Some("bot @test".into()));
                let message = Inbound {
                    source: Source::dm(self.platform.clone(), "42"),
                    message_id: Some("1".into()),
                    text: "hello".into(),
                    media: vec![],
                    reply_to: None,
                    timestamp_ms: 0,
                    from_bot: false,
                };
                sink.deliver(message).await.map_err(|e| AdapterError::Disconnected(e.to_string()))?;
                tokio::time::sleep(after).await;
                Err(AdapterError::Disconnected("socket closed".into()))
            }
            Step::Stay => {
                sink.connected(None);
                std::future::pending().await
            }
            Step::PauseThenConnect { pause } => {
                sink.connected(None);
                sink.paused("the session expired; polling paused");
                tokio::time::sleep(pause).await;
                sink.connected(None);
                std::future::pending().await
            }
        }
    }

    async fn send(&self, _: &Target, _: &OutboundOp) -> Result<Sent, SendError> {
        Err(SendError::Unsupported("scripted"))
    }
}

#[derive(Default)]
struct RecordingSink {
    delivered: Mutex<Vec<String>>,
    connected: AtomicUsize,
}

#[async_trait]
impl InboundSink for RecordingSink {
    async fn deliver(&self, message: Inbound) -> Result<Accepted, SinkError> {
        self.delivered.lock().unwrap().push(message.text);
        Ok(Accepted::Recorded)
    }

    fn connected(&self, _detail: Option<String>) {
        self.connected.fetch_add(1, Ordering::SeqCst);
    }
}

fn config() -> SupervisorConfig {
    SupervisorConfig { jitter: 0.0, ..SupervisorConfig::default() }
}

fn supervisor(config: SupervisorConfig) -> (Supervisor, Arc<GatewayStatus>) {
    let status = Arc::new(GatewayStatus::new(None));
    (Supervisor::new(status.clone(), config, CancellationToken::new()), status)
}

async fn wait_state(s: &Supervisor, platform: &str, state: PlatformState) -> PlatformReport {
    let mut rx = s.watch();
    let reports =
        rx.wait_for(|r| r.get(platform).is_some_and(|p| p.state == state)).await.expect("the supervisor is alive");
    reports[platform].clone()
}

async fn wait_attempts(s: &Supervisor, platform: &str, attempts: u32, state: PlatformState) -> PlatformReport {
    let mut rx = s.watch();
    let reports = rx
        .wait_for(|r| r.get(platform).is_some_and(|p| p.attempts >= attempts && p.state == state))
        .await
        .expect("the supervisor is alive");
    reports[platform].clone()
}

#[test]
fn the_backoff_doubles_from_30_s_and_stops_at_300_s() {
    let secs: Vec<u64> = (1..=7).map(|n| backoff_delay(n, BACKOFF_BASE, BACKOFF_MAX).as_secs()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 300, 300, 300]);
    assert_eq!(backoff_delay(u32::MAX, BACKOFF_BASE, BACKOFF_MAX), BACKOFF_MAX, "no overflow");
    assert_eq!(backoff_delay(0, BACKOFF_BASE, BACKOFF_MAX), BACKOFF_BASE);
}

#[tokio::test(start_paused = true)]
async fn failures_in_a_row_reconnect_with_exponential_backoff() {
    let adapter =
        Scripted::new(Platform::Telegram, &[Step::Drop, Step::Drop, Step::Drop, Step::Drop, Step::Drop, Step::Stay]);
    let sink = Arc::new(RecordingSink::default());
    let (s, status) = supervisor(config());
    s.start(adapter.clone(), sink.clone()).expect("start");

    let retrying = wait_state(&s, "telegram", PlatformState::Retrying).await;
    assert_eq!(retrying.error.as_deref(), Some("connection reset"));
    assert_eq!(status.to_json(None)["platforms"]["telegram"]["state"], "retrying");
    assert_eq!(status.to_json(None)["platforms"]["telegram"]["error_message"], "connection reset");

    let connected = wait_state(&s, "telegram", PlatformState::Connected).await;
    assert_eq!(connected.attempts, 6);
    let gaps: Vec<u64> = adapter.gaps().iter().map(|d| d.as_secs()).collect();
    assert_eq!(gaps, [30, 60, 120, 240, 300]);
    assert_eq!(status.to_json(None)["platforms"]["telegram"]["state"], "connected");
    assert_eq!(sink.connected.load(Ordering::SeqCst), 1, "the gateway's sink hears `connected` too");
    s.shutdown().await;
    assert_eq!(s.report("telegram").expect("report").state, PlatformState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn jitter_adds_at_most_its_fraction() {
    let adapter = Scripted::new(Platform::Telegram, &[Step::Drop, Step::Stay]);
    let (s, _) = supervisor(SupervisorConfig { jitter: 0.5, ..config() });
    s.start(adapter.clone(), Arc::new(RecordingSink::default())).expect("start");
    wait_state(&s, "telegram", PlatformState::Connected).await;
    let gap = adapter.gaps()[0];
    assert!(gap >= Duration::from_secs(30) && gap <= Duration::from_secs(45), "{gap:?}");
    s.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_held_resets_the_backoff_and_messages_reach_the_sink() {
    let after = Duration::from_secs(600);
    let adapter = Scripted::new(
        Platform::Telegram,
        &[Step::Drop, Step::Drop, Step::ConnectThenDrop { after }, Step::Drop, Step::Stay],
    );
    let sink = Arc::new(RecordingSink::default());
    let (s, _) = supervisor(config());
    s.start(adapter.clone(), sink.clone()).expect("start");
    wait_attempts(&s, "telegram", 5, PlatformState::Connected).await;
    // 30, 60, then the connected attempt lasted 600 s and the count restarted: 30, then 60.
    let gaps: Vec<u64> = adapter.gaps().iter().map(|d| d.as_secs()).collect();
    assert_eq!(gaps, [30, 60, 600 + 30, 60]);
    assert_eq!(*sink.delivered.lock().unwrap(), ["hello"]);
    s.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_paused_adapter_shows_why_until_it_connects_again_without_a_reconnect() {
    let adapter = Scripted::new(Platform::Weixin, &[Step::PauseThenConnect { pause: Duration::from_secs(600) }]);
    let (s, status) = supervisor(config());
    s.start(adapter.clone(), Arc::new(RecordingSink::default())).expect("start");
    let paused = wait_state(&s, "weixin", PlatformState::Retrying).await;
    assert_eq!(paused.error.as_deref(), Some("the session expired; polling paused"));
    let detailed = status.to_json(None);
    assert_eq!(detailed["platforms"]["weixin"]["state"], "retrying", "{detailed}");
    assert_eq!(detailed["platforms"]["weixin"]["error_message"], "the session expired; polling paused");
    let back = wait_state(&s, "weixin", PlatformState::Connected).await;
    assert_eq!(back.error, None);
    assert_eq!(adapter.attempts(), 1, "a pause is not a reconnect");
    s.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_never_connects_times_out_after_30_s_and_is_retried() {
    let adapter = Scripted::new(Platform::Telegram, &[Step::Hang, Step::Stay]);
    let (s, _) = supervisor(config());
    s.start(adapter.clone(), Arc::new(RecordingSink::default())).expect("start");
    let retrying = wait_state(&s, "telegram", PlatformState::Retrying).await;
    assert_eq!(retrying.error.as_deref(), Some("not connected within 30 s"));
    assert_eq!(adapter.running.load(Ordering::SeqCst), 0, "the hung attempt was dropped");
    wait_state(&s, "telegram", PlatformState::Connected).await;
    assert_eq!(adapter.gaps(), [Duration::from_secs(30 + 30)]);
    s.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_stops_that_adapter_only() {
    let bad = Scripted::new(Platform::Telegram, &[Step::Fatal]);
    let flaky = Scripted::new(Platform::Discord, &[Step::Panic, Step::Drop, Step::Stay]);
    let (s, status) = supervisor(config());
    s.start(bad.clone(), Arc::new(RecordingSink::default())).expect("start");
    s.start(flaky.clone(), Arc::new(RecordingSink::default())).expect("start");

    let fatal = wait_state(&s, "telegram", PlatformState::Fatal).await;
    assert_eq!(fatal.error.as_deref(), Some("the bot token was refused (401)"));
    let connected = wait_state(&s, "discord", PlatformState::Connected).await;
    assert_eq!(connected.attempts, 3, "a panic and a drop were retried");
    assert_eq!(bad.attempts(), 1, "a fatal error is never retried");
    let json = status.to_json(None);
    assert_eq!(json["platforms"]["telegram"]["state"], "fatal");
    assert_eq!(json["platforms"]["discord"]["state"], "connected");
    s.shutdown().await;
    assert_eq!(s.report("telegram").expect("report").state, PlatformState::Fatal, "fatal stays fatal");
}

#[tokio::test(start_paused = true)]
async fn shutdown_drops_running_and_waiting_adapters() {
    let up = Scripted::new(Platform::Telegram, &[Step::Stay]);
    let down = Scripted::new(Platform::Discord, &[Step::Drop]);
    let (s, _) = supervisor(config());
    s.start(up.clone(), Arc::new(RecordingSink::default())).expect("start");
    s.start(down.clone(), Arc::new(RecordingSink::default())).expect("start");
    wait_state(&s, "telegram", PlatformState::Connected).await;
    wait_state(&s, "discord", PlatformState::Retrying).await;
    assert_eq!(up.running.load(Ordering::SeqCst), 1);
    s.shutdown().await;
    assert_eq!(up.running.load(Ordering::SeqCst), 0, "the run future was dropped");
    assert_eq!(down.attempts(), 1, "the waiting one did not try again");
    for name in ["telegram", "discord"] {
        assert_eq!(s.report(name).expect("report").state, PlatformState::Stopped);
    }
}

#[tokio::test(start_paused = true)]
async fn a_credential_held_by_another_gateway_makes_the_platform_fatal_naming_the_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SupervisorConfig { credential_lock_dir: Some(dir.path().to_path_buf()), ..config() };
    let (first, _) = supervisor(cfg.clone());
    let (second, status) = supervisor(cfg);
    first
        .start(Scripted::with_token(Platform::Telegram, "123:secret"), Arc::new(RecordingSink::default()))
        .expect("first");
    wait_state(&first, "telegram", PlatformState::Connected).await;

    let refused = Scripted::with_token(Platform::Telegram, "123:secret");
    let error = second.start(refused.clone(), Arc::new(RecordingSink::default())).expect_err("second");
    let text = error.to_string();
    assert!(text.starts_with("telegram: ") && text.contains(&format!("pid {}", std::process::id())), "{text}");
    assert!(!text.contains("123:secret"), "{text}");
    assert_eq!(refused.attempts(), 0, "the adapter never ran");
    let report = second.report("telegram").expect("report");
    assert_eq!(report.state, PlatformState::Fatal);
    assert_eq!(report.error.as_deref(), Some(text.as_str()));
    assert_eq!(status.to_json(None)["platforms"]["telegram"]["state"], "fatal");

    // The lock goes with the first adapter's task.
    first.shutdown().await;
    let (third, _) = supervisor(SupervisorConfig { credential_lock_dir: Some(dir.path().to_path_buf()), ..config() });
    third
        .start(Scripted::with_token(Platform::Telegram, "123:secret"), Arc::new(RecordingSink::default()))
        .expect("free again");
    third.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_adapter_can_be_stopped_and_replaced_while_the_others_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SupervisorConfig { credential_lock_dir: Some(dir.path().to_path_buf()), ..config() };
    let old = Scripted::with_token(Platform::Weixin, "old-token");
    let other = Scripted::new(Platform::Telegram, &[Step::Stay]);
    let (s, _) = supervisor(cfg);
    s.start(old.clone(), Arc::new(RecordingSink::default())).expect("start");
    s.start(other.clone(), Arc::new(RecordingSink::default())).expect("start");
    wait_state(&s, "weixin", PlatformState::Connected).await;
    wait_state(&s, "telegram", PlatformState::Connected).await;
    assert!(s.stop("weixin").await);
    assert_eq!(old.running.load(Ordering::SeqCst), 0, "the old run future was dropped");
    assert!(!s.stop("weixin").await, "nothing left to stop");
    assert_eq!(other.running.load(Ordering::SeqCst), 1, "the other platform kept running");
    // The old credential's lock is released with its task, so the same token can start again.
    let again = Scripted::with_token(Platform::Weixin, "old-token");
    s.start(again.clone(), Arc::new(RecordingSink::default())).expect("the lock was released");
    wait_state(&s, "weixin", PlatformState::Connected).await;
    assert_eq!(again.running.load(Ordering::SeqCst), 1);
    s.shutdown().await;
}
