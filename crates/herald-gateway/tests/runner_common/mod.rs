//! The runner's test fixture: a scripted LLM, a real SQLite store, and a recorder in
//! place of a platform's delivery.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use herald_agent::provider::{OpenAiConfig, OpenAiProvider};
use herald_agent::tools::{MemoryFiles, ToolRegistry};
use herald_agent::{Agent, AgentSettings};
use herald_core::config::{Config, ConfigLoader};
use herald_core::{Inbound, Platform, Source, Target};
use herald_gateway::Conversations;
use herald_gateway::runner::{Admit, Gate, Origin, Replies, ReplyError, ReplyStream, Runner, RunnerSetup};
use herald_store::{InboundState, SqliteStore, Store};
use herald_testkit::ScriptedLlm;
use tokio_util::sync::CancellationToken;

/// What the runner asked delivery to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub chat: String,
    pub text: String,
    pub streamed: bool,
    pub finished: Option<(i64, String)>,
}

pub struct Recorder {
    pub store: Arc<dyn Store>,
    pub said: Mutex<Vec<Said>>,
    /// Chats the typing indicator was set in, in order.
    pub typing: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn said(&self) -> Vec<Said> {
        self.said.lock().unwrap().clone()
    }

    pub fn texts(&self) -> Vec<String> {
        self.said().into_iter().map(|s| s.text).collect()
    }

    pub async fn record(&self, chat: &str, text: &str, streamed: bool, origin: Origin) -> Result<(), ReplyError> {
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

pub struct RecordedStream {
    pub recorder: Arc<Recorder>,
    pub chat: String,
    pub deltas: String,
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

pub struct RecordedReplies(pub Arc<Recorder>);

#[async_trait]
impl Replies for RecordedReplies {
    async fn send_text(&self, target: &Target, text: &str, origin: Origin) -> Result<(), ReplyError> {
        self.0.record(&target.chat_id, text, false, origin).await
    }

    fn stream(&self, target: &Target, _session_id: &str) -> Box<dyn ReplyStream> {
        Box::new(RecordedStream { recorder: self.0.clone(), chat: target.chat_id.clone(), deltas: String::new() })
    }

    async fn typing(&self, target: &Target) {
        self.0.typing.lock().unwrap().push(target.chat_id.clone());
    }
}

pub struct Open;

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

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub db: std::path::PathBuf,
    pub llm: ScriptedLlm,
    pub store: Arc<dyn Store>,
    pub recorder: Arc<Recorder>,
    pub runner: Runner,
    pub shutdown: CancellationToken,
    pub offset: Arc<AtomicI64>,
    pub config: Config,
}

pub fn load(yaml: &str) -> Config {
    let mut loader = ConfigLoader::new();
    loader.yaml("config.yaml", yaml).unwrap();
    loader.build().unwrap().config
}

pub fn runner_over(
    dir: &std::path::Path,
    llm: &ScriptedLlm,
    store: Arc<dyn Store>,
    config: Config,
) -> (Runner, Arc<Recorder>, CancellationToken, Arc<AtomicI64>) {
    runner_with(dir, llm, store, config, Arc::new(Open))
}

pub fn runner_with(
    dir: &std::path::Path,
    llm: &ScriptedLlm,
    store: Arc<dyn Store>,
    config: Config,
    gate: Arc<dyn Gate>,
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
        config: config.sessions.clone(),
        time_zone: jiff::tz::TimeZone::UTC,
        gate,
        access: config.access.clone(),
        shutdown: shutdown.clone(),
        clock: Arc::new(move || jiff::Timestamp::now().as_millisecond() + clock_offset.load(Ordering::SeqCst)),
    });
    let recorder =
        Arc::new(Recorder { store: store.clone(), said: Mutex::new(Vec::new()), typing: Mutex::new(Vec::new()) });
    runner.add_platform("telegram", Arc::new(RecordedReplies(recorder.clone())));
    (runner, recorder, shutdown, offset)
}

pub async fn fixture(yaml: &str) -> Fixture {
    fixture_gated(yaml, false).await
}

/// With `access_gate`, admission is the gateway's own (allowlists, pairing).
pub async fn fixture_gated(yaml: &str, access_gate: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let llm = ScriptedLlm::start().await;
    let config = load(yaml);
    let gate: Arc<dyn Gate> = if access_gate {
        Arc::new(herald_gateway::runner::AccessGate::new(store.clone(), config.access.clone()))
    } else {
        Arc::new(Open)
    };
    let (runner, recorder, shutdown, offset) = runner_with(dir.path(), &llm, store.clone(), config.clone(), gate);
    Fixture { _dir: dir, db, llm, store, recorder, runner, shutdown, offset, config }
}

pub fn dm(chat: &str, message_id: &str, text: &str) -> Inbound {
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
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub async fn inbound_state(store: &Arc<dyn Store>, id: i64) -> (InboundState, Option<String>) {
    let row = store.inbound(id).await.unwrap().unwrap();
    (row.state, row.outcome)
}
