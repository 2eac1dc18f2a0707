//! The runner against the scripted LLM and a real SQLite store: sessions, resets, busy
//! modes, shutdown and resume, with a recorder in place of a platform's delivery.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use herald_agent::provider::{OpenAiConfig, OpenAiProvider};
use herald_agent::tools::{MemoryFiles, ToolRegistry};
use herald_agent::{Agent, AgentSettings};
use herald_core::config::{BusyInputMode, ConfigLoader, ResetMode, SessionsConfig};
use herald_core::{Accepted, ChatType, Inbound, InboundSink, Platform, Source, Target};
use herald_gateway::Conversations;
use herald_gateway::runner::{Admit, Gate, Origin, Replies, ReplyError, ReplyStream, Runner, RunnerSetup};
use herald_store::{InboundState, SessionListQuery, SqliteStore, Store};
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::{Reply, ScriptedToolCall};
use tokio_util::sync::CancellationToken;

/// What the runner asked delivery to say.
#[derive(Debug, Clone, PartialEq)]
struct Said {
    chat: String,
    text: String,
    streamed: bool,
    finished: Option<(i64, String)>,
}

struct Recorder {
    store: Arc<dyn Store>,
    said: Mutex<Vec<Said>>,
}

impl Recorder {
    fn said(&self) -> Vec<Said> {
        self.said.lock().unwrap().clone()
    }

    fn texts(&self) -> Vec<String> {
        self.said().into_iter().map(|s| s.text).collect()
    }

    async fn record(&self, chat: &str, text: &str, streamed: bool, origin: Origin) -> Result<(), ReplyError> {
        // The real delivery finishes the message in the write that queues the reply.
        if let (Some(id), Some(outcome)) = (origin.inbound_id, &origin.outcome) {
            self.store.finish_inbound(id, outcome).await.map_err(|e| ReplyError(e.to_string()))?;
        }
        self.said.lock().unwrap().push(Said {
            chat: chat.to_string(),
            text: text.to_string(),
            streamed,
            finished: origin.inbound_id.zip(origin.outcome),
        });
        Ok(())
    }
}

struct RecordedStream {
    recorder: Arc<Recorder>,
    chat: String,
    deltas: String,
}

#[async_trait]
impl ReplyStream for RecordedStream {
    fn push_delta(&mut self, delta: &str) {
        self.deltas.push_str(delta);
    }

    async fn finish(self: Box<Self>, final_text: &str, origin: Origin) -> Result<(), ReplyError> {
        self.recorder.record(&self.chat, final_text, true, origin).await
    }

    async fn abandon(self: Box<Self>) {}
}

struct RecordedReplies(Arc<Recorder>);

#[async_trait]
impl Replies for RecordedReplies {
    async fn send_text(&self, target: &Target, text: &str, origin: Origin) -> Result<(), ReplyError> {
        self.0.record(&target.chat_id, text, false, origin).await
    }

    fn stream(&self, target: &Target, _session_id: &str) -> Box<dyn ReplyStream> {
        Box::new(RecordedStream { recorder: self.0.clone(), chat: target.chat_id.clone(), deltas: String::new() })
    }

    async fn typing(&self, _target: &Target) {}
}

struct Open;

#[async_trait]
impl Gate for Open {
    async fn admit(&self, inbound: &Inbound) -> Admit {
        if inbound.source.user_id.as_deref() == Some("stranger") {
            Admit::Reply("who are you?".into())
        } else {
            Admit::Pass
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    llm: ScriptedLlm,
    store: Arc<dyn Store>,
    recorder: Arc<Recorder>,
    runner: Runner,
    shutdown: CancellationToken,
    offset: Arc<AtomicI64>,
    config: SessionsConfig,
}

fn sessions_config(yaml: &str) -> SessionsConfig {
    let mut loader = ConfigLoader::new();
    loader.yaml("config.yaml", yaml).unwrap();
    loader.build().unwrap().config.sessions
}

fn runner_over(
    dir: &std::path::Path,
    llm: &ScriptedLlm,
    store: Arc<dyn Store>,
    config: SessionsConfig,
) -> (Runner, Arc<Recorder>, CancellationToken, Arc<AtomicI64>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = OpenAiProvider::new(OpenAiConfig {
        base_url: llm.openai_base_url(),
        api_key: Some("sk-test-0123456789".into()),
        max_retries: 0,
        ..OpenAiConfig::default()
    })
    .unwrap();
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(herald_agent::tools::ClockTool::new(Some("UTC")).unwrap()));
    let settings = AgentSettings {
        model: "test-model".into(),
        max_tokens: 256,
        temperature: None,
        stream: true,
        max_iterations: 5,
    };
    let agent = Arc::new(Agent::new(Arc::new(provider), tools, settings));
    let memory = MemoryFiles {
        dir: dir.to_path_buf(),
        memory_enabled: false,
        user_enabled: false,
        memory_char_limit: 2200,
        user_char_limit: 1375,
    };
    let conversations = Arc::new(Conversations::new(store.clone(), agent, dir.to_path_buf(), memory));
    let shutdown = CancellationToken::new();
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let runner = Runner::new(RunnerSetup {
        store: store.clone(),
        conversations,
        config,
        time_zone: jiff::tz::TimeZone::UTC,
        gate: Arc::new(Open),
        shutdown: shutdown.clone(),
        clock: Arc::new(move || jiff::Timestamp::now().as_millisecond() + clock_offset.load(Ordering::SeqCst)),
    });
    let recorder = Arc::new(Recorder { store: store.clone(), said: Mutex::new(Vec::new()) });
    runner.add_platform("telegram", Arc::new(RecordedReplies(recorder.clone())));
    (runner, recorder, shutdown, offset)
}

async fn fixture(yaml: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let llm = ScriptedLlm::start().await;
    let config = sessions_config(yaml);
    let (runner, recorder, shutdown, offset) = runner_over(dir.path(), &llm, store.clone(), config.clone());
    Fixture { _dir: dir, db, llm, store, recorder, runner, shutdown, offset, config }
}

fn dm(chat: &str, message_id: &str, text: &str) -> Inbound {
    let mut source = Source::dm(Platform::Telegram, chat);
    source.user_id = Some(chat.to_string());
    source.user_name = Some(format!("user {chat}"));
    Inbound {
        source,
        message_id: Some(message_id.to_string()),
        text: text.to_string(),
        media: Vec::new(),
        reply_to: None,
        timestamp_ms: 1_700_000_000_000,
        from_bot: false,
    }
}

/// Waits (without a deadline that would make the test timing-dependent on a slow
/// machine, but with a generous cap so a bug fails instead of hanging) until `check`.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn inbound_state(store: &Arc<dyn Store>, id: i64) -> (InboundState, Option<String>) {
    let row = store.inbound(id).await.unwrap().unwrap();
    (row.state, row.outcome)
}

#[tokio::test]
async fn a_message_is_recorded_answered_and_its_copy_dropped() {
    let f = fixture("").await;
    f.llm.push(Reply::text("hello back"));
    assert_eq!(f.runner.deliver(dm("99", "1", "hello")).await.unwrap(), Accepted::Recorded);
    until("the answer", || !f.recorder.said().is_empty()).await;
    let said = f.recorder.said();
    assert_eq!(said[0].text, "hello back");
    assert!(said[0].streamed, "streaming is on by default");
    let (id, outcome) = said[0].finished.clone().unwrap();
    assert_eq!(outcome, "answered");
    assert_eq!(inbound_state(&f.store, id).await, (InboundState::Finished, Some("answered".into())));

    // The platform delivers the same update again (a crash before its cursor moved).
    assert_eq!(f.runner.deliver(dm("99", "1", "hello")).await.unwrap(), Accepted::Duplicate);

    let session = f.store.latest_session_for_key("agent:main:telegram:dm:99").await.unwrap().unwrap();
    let messages = f.store.messages(&session.id).await.unwrap();
    let texts: Vec<&str> = messages.iter().map(|m| m.message.content.as_str()).collect();
    assert_eq!(texts, ["hello", "hello back"]);
    assert_eq!(session.platform, "telegram");
    assert_eq!(session.chat_type.as_deref(), Some("dm"));
    let system = f.llm.last_request().unwrap().system_text();
    assert!(system.contains("Platform: telegram (a direct message)"), "{system}");
    assert!(system.contains("\"user 99\" (id 99)"), "{system}");
    assert_eq!(f.llm.request_count(), 1, "the copy never reached the model");
}

#[tokio::test]
async fn each_chat_keeps_its_own_session_and_history() {
    let f = fixture("").await;
    f.runner.deliver(dm("1", "1", "first in one")).await.unwrap();
    until("one answer", || f.recorder.said().len() == 1).await;
    f.runner.deliver(dm("2", "1", "first in two")).await.unwrap();
    until("two answers", || f.recorder.said().len() == 2).await;
    f.runner.deliver(dm("1", "2", "second in one")).await.unwrap();
    until("three answers", || f.recorder.said().len() == 3).await;
    let last = f.llm.last_request().unwrap();
    let contents: Vec<String> =
        last.messages().iter().filter_map(|m| m["content"].as_str().map(str::to_string)).collect();
    assert!(contents.contains(&"first in one".to_string()), "{contents:?}");
    assert!(!contents.contains(&"first in two".to_string()), "{contents:?}");
    let list = f.store.list_sessions(SessionListQuery::default()).await.unwrap();
    assert_eq!(list.sessions.len(), 2);
    assert_eq!(f.recorder.said()[2].chat, "1");
}

#[tokio::test]
async fn admission_replies_and_finishes_without_a_session() {
    let f = fixture("").await;
    let mut stranger = dm("5", "1", "hi");
    stranger.source.user_id = Some("stranger".into());
    f.runner.deliver(stranger).await.unwrap();
    until("the refusal", || !f.recorder.said().is_empty()).await;
    let said = &f.recorder.said()[0];
    assert_eq!(said.text, "who are you?");
    assert_eq!(said.finished.as_ref().unwrap().1, "unauthorized");
    assert_eq!(f.llm.request_count(), 0);
    assert!(f.store.list_sessions(SessionListQuery::default()).await.unwrap().sessions.is_empty());
}

#[tokio::test]
async fn an_idle_session_resets_with_hermes_notice() {
    let f = fixture("session_reset:\n  mode: idle\n  idle_minutes: 60\n").await;
    f.runner.deliver(dm("7", "1", "remember 42")).await.unwrap();
    until("first answer", || f.recorder.said().len() == 1).await;
    let first = f.store.latest_session_for_key("agent:main:telegram:dm:7").await.unwrap().unwrap();

    f.offset.store(61 * 60_000, Ordering::SeqCst);
    f.runner.deliver(dm("7", "2", "what did I say?")).await.unwrap();
    until("notice and answer", || f.recorder.said().len() == 3).await;
    let texts = f.recorder.texts();
    assert_eq!(
        texts[1],
        "◐ Session automatically reset (inactive for 1h 1m). Conversation history cleared.\n\
         Adjust reset timing in config.yaml under session_reset."
    );
    let old = f.store.session(&first.id).await.unwrap().unwrap();
    assert!(!old.flags.expiry_finalized, "the sweep had not run");
    assert_eq!(old.end_reason.as_deref(), Some("session_reset"));
    let new = f.store.latest_session_for_key("agent:main:telegram:dm:7").await.unwrap().unwrap();
    assert_ne!(new.id, first.id);
    assert!(new.flags.was_auto_reset);
    assert_eq!(new.flags.auto_reset_reason.as_deref(), Some("idle"));
    let last = f.llm.last_request().unwrap();
    assert!(!last.messages().iter().any(|m| m["content"] == "remember 42"), "history was cleared");
    assert!(last.system_text().contains("expired due to inactivity"));
}

#[tokio::test]
async fn the_expiry_sweep_finalizes_expired_sessions_only() {
    let f = fixture("session_reset:\n  mode: idle\n  idle_minutes: 60\n").await;
    f.runner.deliver(dm("12", "1", "hi")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    assert_eq!(f.runner.sweep_expired().await.unwrap(), 0);
    f.offset.store(61 * 60_000, Ordering::SeqCst);
    assert_eq!(f.runner.sweep_expired().await.unwrap(), 1);
    assert_eq!(f.runner.sweep_expired().await.unwrap(), 0, "finalized once");
    let session = f.store.latest_session_for_key("agent:main:telegram:dm:12").await.unwrap().unwrap();
    assert!(session.flags.expiry_finalized);
    // The next message still gets the reset notice.
    f.runner.deliver(dm("12", "2", "back")).await.unwrap();
    until("notice and answer", || f.recorder.said().len() == 3).await;
    assert!(f.recorder.texts()[1].starts_with("◐ Session automatically reset (inactive for 1h 1m)."));
}

#[tokio::test]
async fn a_daily_reset_fires_after_the_hour_passes() {
    let f = fixture("session_reset:\n  mode: daily\n  at_hour: 4\n").await;
    f.runner.deliver(dm("8", "1", "hi")).await.unwrap();
    until("first answer", || f.recorder.said().len() == 1).await;
    f.offset.store(25 * 3_600_000, Ordering::SeqCst);
    f.runner.deliver(dm("8", "2", "hi again")).await.unwrap();
    until("notice and answer", || f.recorder.said().len() == 3).await;
    assert!(f.recorder.texts()[1].starts_with("◐ Session automatically reset (daily schedule at 4:00)."));
}

#[tokio::test]
async fn a_message_mid_turn_interrupts_by_default() {
    let f = fixture("").await;
    f.llm.push(Reply::text("a very long answer").delayed(Duration::from_secs(60)));
    f.llm.push(Reply::text("answer to the second"));
    f.runner.deliver(dm("3", "1", "long question")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    // Past Telegram's follow-up window, which would queue instead.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    f.runner.deliver(dm("3", "2", "never mind, this")).await.unwrap();
    until("ack, stop and answer", || f.recorder.said().len() == 3).await;
    let said = f.recorder.said();
    assert!(said[0].text.starts_with("⚡ Interrupting current task ("), "{said:?}");
    let stopped = said.iter().find(|s| s.finished.as_ref().is_some_and(|f| f.1 == "stopped")).expect("stopped turn");
    assert_eq!(stopped.text, "", "nothing was streamed before the interrupt");
    assert_eq!(said[2].text, "answer to the second");
    assert_eq!(said[2].finished.as_ref().unwrap().1, "answered");
}

#[tokio::test]
async fn queue_mode_answers_both_in_order() {
    let f = fixture("display:\n  busy_input_mode: queue\n").await;
    assert_eq!(f.config.busy_input_mode, BusyInputMode::Queue);
    f.llm.push(Reply::text("first answer").delayed(Duration::from_millis(500)));
    f.llm.push(Reply::text("second answer"));
    f.runner.deliver(dm("4", "1", "one")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.runner.deliver(dm("4", "2", "two")).await.unwrap();
    until("ack and two answers", || f.recorder.said().len() == 3).await;
    let texts = f.recorder.texts();
    assert!(texts[0].starts_with("⏳ Queued for the next turn ("), "{texts:?}");
    assert_eq!(&texts[1..], ["first answer", "second answer"]);
    // The second turn saw the first exchange.
    let last = f.llm.last_request().unwrap();
    assert!(last.messages().iter().any(|m| m["content"] == "first answer"));
}

#[tokio::test]
async fn steer_mode_hands_the_message_to_the_running_turn() {
    let f = fixture("display:\n  busy_input_mode: steer\n").await;
    f.llm.push(
        Reply::ToolCalls(vec![ScriptedToolCall::new("clock", serde_json::json!({}))])
            .delayed(Duration::from_millis(800)),
    );
    f.llm.push(Reply::text("done, in metric"));
    f.runner.deliver(dm("6", "1", "measure it")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.runner.deliver(dm("6", "2", "use metric")).await.unwrap();
    until("ack and answer", || f.recorder.said().len() == 2).await;
    let said = f.recorder.said();
    assert!(said[0].text.starts_with("⏩ Steered into current run ("), "{said:?}");
    assert_eq!(said[1].text, "done, in metric");
    let second = &f.llm.requests()[1];
    let tool_result = second.messages().last().unwrap()["content"].as_str().unwrap().to_string();
    assert!(tool_result.ends_with("[The user sent this while you were working: use metric]"), "{tool_result}");
    // The steered message is finished as such; only one model round trip per answer.
    until("steered finished", || true).await;
    let rows = f.store.pending_inbound("telegram").await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(f.llm.request_count(), 2);
}

#[tokio::test]
async fn a_turn_stopped_by_shutdown_is_resumed_after_the_restart() {
    let f = fixture("").await;
    f.llm.push(Reply::text("too slow").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("9", "1", "question")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.shutdown.cancel();
    assert!(f.runner.wait_stopped(Duration::from_secs(10)).await);
    assert!(f.recorder.said().is_empty(), "nothing is said for a turn the restart will run");
    let pending = f.store.pending_inbound("telegram").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, InboundState::Started);

    // The next process over the same database.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
    let (runner, recorder, _shutdown, _) = runner_over(f._dir.path(), &f.llm, store.clone(), f.config.clone());
    f.llm.push(Reply::text("the resumed answer"));
    let report = runner.resume("telegram").await.unwrap();
    assert_eq!(report.resumed, 1);
    until("the resumed answer", || !recorder.said().is_empty()).await;
    assert_eq!(recorder.texts(), ["the resumed answer"]);
    let session = store.latest_session_for_key("agent:main:telegram:dm:9").await.unwrap().unwrap();
    let texts: Vec<String> =
        store.messages(&session.id).await.unwrap().into_iter().map(|m| m.message.content).collect();
    assert_eq!(texts, ["question", "the resumed answer"], "the question is in the transcript once");
    assert!(!session.flags.resume_pending);
    assert!(store.pending_inbound("telegram").await.unwrap().is_empty());
}

#[tokio::test]
async fn three_failed_resumes_suspend_the_session() {
    let f = fixture("").await;
    f.llm.set_fallback(Reply::text("never").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("10", "1", "crashy")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.shutdown.cancel();
    assert!(f.runner.wait_stopped(Duration::from_secs(10)).await);
    // Three restarts, each dying during the resumed turn.
    for attempt in 1..=3 {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
        let (runner, _, shutdown, _) = runner_over(f._dir.path(), &f.llm, store, f.config.clone());
        let before = f.llm.request_count();
        assert_eq!(runner.resume("telegram").await.unwrap().resumed, 1, "attempt {attempt}");
        until("the resumed turn to start", || f.llm.request_count() > before).await;
        shutdown.cancel();
        assert!(runner.wait_stopped(Duration::from_secs(10)).await);
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
    let (runner, recorder, _, _) = runner_over(f._dir.path(), &f.llm, store.clone(), f.config.clone());
    let report = runner.resume("telegram").await.unwrap();
    assert_eq!((report.resumed, report.suspended), (0, 1));
    let session = store.latest_session_for_key("agent:main:telegram:dm:10").await.unwrap().unwrap();
    assert!(session.flags.suspended);

    // The next message starts over, with the suspension notice.
    f.llm.set_fallback(Reply::text("fresh start"));
    runner.deliver(dm("10", "2", "hello?")).await.unwrap();
    until("notice and answer", || recorder.said().len() == 2).await;
    assert!(recorder.texts()[0].contains("(previous session was stopped or interrupted)"));
    assert_eq!(recorder.texts()[1], "fresh start");
}

#[tokio::test]
async fn an_interrupted_turn_older_than_the_window_is_not_resumed() {
    let f = fixture("agent:\n  gateway_auto_continue_freshness: 60\n").await;
    f.llm.push(Reply::text("too slow").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("11", "1", "old question")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.shutdown.cancel();
    assert!(f.runner.wait_stopped(Duration::from_secs(10)).await);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
    let (runner, recorder, _, offset) = runner_over(f._dir.path(), &f.llm, store.clone(), f.config.clone());
    offset.store(120_000, Ordering::SeqCst);
    let report = runner.resume("telegram").await.unwrap();
    assert_eq!((report.resumed, report.expired), (0, 1));
    f.llm.push(Reply::text("new answer"));
    runner.deliver(dm("11", "2", "new question")).await.unwrap();
    until("notice and answer", || recorder.said().len() == 2).await;
    assert!(recorder.texts()[0].contains("previous session was stopped or interrupted"));
    let session = store.latest_session_for_key("agent:main:telegram:dm:11").await.unwrap().unwrap();
    assert_eq!(session.flags.auto_reset_reason.as_deref(), Some("resume_pending_expired"));
}

#[tokio::test]
async fn group_members_get_their_own_sessions() {
    let f = fixture("").await;
    for (user, id) in [("alice", "1"), ("bob", "2")] {
        let mut m = dm("-100", id, "hi");
        m.source.chat_type = ChatType::Group;
        m.source.user_id = Some(user.into());
        f.runner.deliver(m).await.unwrap();
    }
    until("two answers", || f.recorder.said().len() == 2).await;
    assert!(f.store.latest_session_for_key("agent:main:telegram:group:-100:alice").await.unwrap().is_some());
    assert!(f.store.latest_session_for_key("agent:main:telegram:group:-100:bob").await.unwrap().is_some());
    let _ = ResetMode::None;
}
