//! `GatewayBackend` against the scripted LLM and a real SQLite store: what the API
//! server gets when it runs turns and manages sessions and stored responses.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_agent::provider::{
    ChatRequest, Completion, OpenAiConfig, OpenAiProvider, Provider, ProviderError, StreamDelta,
};
use herald_agent::tools::{ClockTool, MemoryFiles, ToolRegistry};
use herald_agent::{Agent, AgentSettings};
use herald_core::backend::{
    Backend, BackendError, EventSink, History, NewApiSession, SessionQuery, TurnEvent, TurnRequest, TurnStatus,
};
use herald_core::{FinishReason, Message, Role, Usage};
use herald_gateway::{AgentSlot, BackendSetup, GatewayBackend, GatewayState, GatewayStatus, PromptFiles, RouteAgent};
use herald_store::{SqliteOptions, SqliteStore, Store};
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::{Reply, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    backend: GatewayBackend,
}

fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider(llm: &ScriptedLlm) -> Arc<dyn Provider> {
    install_tls();
    let config = OpenAiConfig {
        base_url: llm.openai_base_url(),
        api_key: Some("sk-test-0123456789".into()),
        max_retries: 0,
        ..OpenAiConfig::default()
    };
    Arc::new(OpenAiProvider::new(config).expect("provider"))
}

fn agent(provider: Arc<dyn Provider>, model: &str) -> Arc<Agent> {
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(ClockTool::new(Some("UTC")).expect("clock")));
    let settings =
        AgentSettings { model: model.into(), max_tokens: 256, temperature: None, stream: true, max_iterations: 5 };
    Arc::new(Agent::new(provider, tools, settings))
}

fn fixture_with(agent: AgentSlot, routes: Vec<RouteAgent>, options: SqliteOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_with(&dir.path().join("herald.db"), options).expect("open store"));
    let memory = MemoryFiles {
        dir: dir.path().to_path_buf(),
        memory_enabled: true,
        user_enabled: true,
        memory_char_limit: 2200,
        user_char_limit: 1375,
    };
    let backend = GatewayBackend::new(BackendSetup {
        store: store.clone(),
        prompt: PromptFiles::new(dir.path().to_path_buf(), memory),
        model_name: "hermes-agent".into(),
        agent,
        routes,
        status: Arc::new(GatewayStatus::new(None)),
    });
    Fixture { dir, store, backend }
}

fn fixture(llm: &ScriptedLlm) -> Fixture {
    fixture_with(Ok(agent(provider(llm), "test-model")), Vec::new(), SqliteOptions::default())
}

fn request(session_id: &str, input: &str, history: History) -> TurnRequest {
    TurnRequest {
        session_id: session_id.into(),
        session_key: None,
        history,
        input: input.into(),
        ephemeral_system: None,
        model: None,
        title: None,
    }
}

fn ignore() -> EventSink {
    Box::new(|_| {})
}

fn collect() -> (EventSink, mpsc::UnboundedReceiver<TurnEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Box::new(move |event| drop(tx.send(event))), rx)
}

/// The texts of the messages the model was sent, system prompt excluded.
fn sent_conversation(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap_or("").to_owned(), m["content"].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn system_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "system")
        .map(|m| m.to_string())
        .collect()
}

async fn stored(store: &Arc<dyn Store>, id: &str) -> Vec<(Role, String)> {
    store.messages(id).await.expect("messages").into_iter().map(|m| (m.message.role, m.message.content)).collect()
}

async fn wait_idle(backend: &GatewayBackend) {
    for _ in 0..500 {
        if backend.active_turns() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the turn task did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provided_history_reaches_the_model_and_only_the_new_turn_is_stored() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("Your name is Ada.").with_usage(120, 6));
    let f = fixture(&llm);
    let history = History::Provided(vec![
        Message::system("Client system text."),
        Message::user("My name is Ada."),
        Message::assistant("Nice to meet you."),
    ]);
    let mut req = request("api-00000000000000a1", "What is my name?", history);
    req.ephemeral_system = Some("Be brief.".into());
    req.title = Some("Names".into());
    let (sink, mut events) = collect();

    let outcome = f.backend.run_turn(req, sink).await.expect("turn");
    assert_eq!(outcome.text, "Your name is Ada.");
    assert_eq!(outcome.status, TurnStatus::Completed);
    assert_eq!(outcome.session_id, "api-00000000000000a1");
    assert_eq!(outcome.model, "test-model");
    assert_eq!(outcome.usage, Usage { input_tokens: 120, output_tokens: 6, ..Usage::default() });
    assert!(outcome.tool_calls.is_empty());

    let mut streamed = String::new();
    let mut usage_events = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            TurnEvent::TextDelta(t) => streamed.push_str(&t),
            TurnEvent::Usage(_) => usage_events += 1,
            _ => {}
        }
    }
    assert_eq!(streamed, "Your name is Ada.");
    assert_eq!(usage_events, 1);

    let body = llm.last_request().expect("a model request").body;
    assert_eq!(
        sent_conversation(&body),
        [
            ("user".to_owned(), "My name is Ada.".to_owned()),
            ("assistant".to_owned(), "Nice to meet you.".to_owned()),
            ("user".to_owned(), "What is my name?".to_owned()),
        ]
    );
    let system = system_text(&body);
    assert!(system.contains("Client system text.") && system.contains("Be brief."), "{system}");
    assert!(system.contains("api-00000000000000a1"), "the session context names the session: {system}");

    let session = f.store.session("api-00000000000000a1").await.expect("get").expect("created with the given id");
    assert_eq!(session.platform, "api_server");
    assert_eq!(session.key.as_deref(), Some("api-00000000000000a1"));
    assert_eq!(session.title.as_deref(), Some("Names"));
    assert_eq!(session.model.as_deref(), Some("test-model"));
    assert_eq!(session.last_prompt_tokens, 120);
    assert_eq!(session.usage.output_tokens, 6);
    assert_eq!(
        stored(&f.store, &session.id).await,
        [(Role::User, "What is my name?".into()), (Role::Assistant, "Your name is Ada.".into())],
        "the client's history is not stored again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_history_continues_the_session() {
    let llm = ScriptedLlm::start().await;
    llm.push_all([Reply::text("Nice to meet you, Ada."), Reply::text("Ada.")]);
    let f = fixture(&llm);
    let mut first = request("api-stored", "My name is Ada.", History::Stored);
    first.session_key = Some("user-42".into());
    f.backend.run_turn(first, ignore()).await.expect("first");
    let second = f.backend.run_turn(request("api-stored", "My name?", History::Stored), ignore()).await.expect("2nd");
    assert_eq!(second.text, "Ada.");

    let body = llm.last_request().expect("request").body;
    assert_eq!(
        sent_conversation(&body),
        [
            ("user".to_owned(), "My name is Ada.".to_owned()),
            ("assistant".to_owned(), "Nice to meet you, Ada.".to_owned()),
            ("user".to_owned(), "My name?".to_owned()),
        ]
    );
    let session = f.store.session("api-stored").await.expect("get").expect("exists");
    assert_eq!(session.key.as_deref(), Some("user-42"), "the session key is the routing key");
    assert_eq!(session.message_count, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_system_prompt_applies_to_its_turns() {
    let llm = ScriptedLlm::start().await;
    let f = fixture(&llm);
    let new = NewApiSession {
        id: "api-pirate".into(),
        system_prompt: Some("Speak like a pirate.".into()),
        ..NewApiSession::default()
    };
    f.backend.create_session(new).await.expect("create");
    f.backend.run_turn(request("api-pirate", "hello", History::Stored), ignore()).await.expect("turn");
    let system = system_text(&llm.last_request().expect("request").body);
    assert!(system.contains("Speak like a pirate."), "{system}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_alias_reaches_its_model_and_other_names_the_default() {
    let llm = ScriptedLlm::start().await;
    let shared = provider(&llm);
    let routes = vec![RouteAgent {
        alias: "fast".into(),
        model: "routed-model".into(),
        agent: Ok(agent(shared.clone(), "routed-model")),
    }];
    let f = fixture_with(Ok(agent(shared, "test-model")), routes, SqliteOptions::default());
    assert_eq!(f.backend.model_routes(), [("fast".to_owned(), "routed-model".to_owned())]);
    assert_eq!(f.backend.model_name(), "hermes-agent");

    let mut routed = request("api-route", "hi", History::Stored);
    routed.model = Some("fast".into());
    let outcome = f.backend.run_turn(routed, ignore()).await.expect("routed");
    assert_eq!(outcome.model, "routed-model");
    assert_eq!(llm.last_request().expect("request").body["model"], "routed-model");

    for other in [Some("gpt-4o"), Some("hermes-agent"), None] {
        let mut plain = request("api-route", "hi", History::Stored);
        plain.model = other.map(str::to_owned);
        let outcome = f.backend.run_turn(plain, ignore()).await.expect("default");
        assert_eq!(outcome.model, "test-model");
        assert_eq!(llm.last_request().expect("request").body["model"], "test-model", "{other:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_cancels_the_turn_and_records_what_was_done() {
    // Eight words, one per chunk, 300 ms apart: the client leaves mid-answer.
    let options = ServerOptions { chunk_delay: Duration::from_millis(300), ..ServerOptions::default() };
    let llm = ScriptedLlm::start_with(options).await.expect("llm");
    llm.push(Reply::tool_call("clock", json!({"timezone": "UTC"})));
    llm.push(Reply::text("one two three four five six seven eight"));
    let f = fixture(&llm);
    let (sink, mut events) = collect();

    let turn = f.backend.run_turn(request("api-leaver", "count", History::Stored), sink);
    let watch = async {
        while let Some(event) = events.recv().await {
            if matches!(&event, TurnEvent::TextDelta(t) if !t.trim().is_empty()) {
                return;
            }
        }
    };
    tokio::select! {
        _ = turn => panic!("the answer should still be streaming"),
        _ = watch => {}
    }
    // The future is dropped here, as a server drops a disconnected client's request.
    wait_idle(&f.backend).await;

    let transcript = stored(&f.store, "api-leaver").await;
    assert_eq!(transcript.len(), 4, "{transcript:?}");
    assert_eq!(transcript[0], (Role::User, "count".into()));
    assert_eq!(transcript[1].0, Role::Assistant, "the tool call");
    assert_eq!(transcript[2].0, Role::Tool);
    assert_eq!(transcript[3].0, Role::Assistant);
    assert!(transcript[3].1.starts_with("one"), "the partial answer: {:?}", transcript[3].1);
    assert!(!transcript[3].1.contains("eight"), "{:?}", transcript[3].1);
    let session = f.store.session("api-leaver").await.expect("get").expect("exists");
    assert_eq!(session.tool_call_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_running_turns_which_report_cancelled() {
    let llm = ScriptedLlm::start().await;
    llm.push(Reply::text("too late").delayed(Duration::from_secs(30)));
    let f = fixture(&llm);
    let backend = f.backend.clone();
    let running =
        tokio::spawn(
            async move { backend.run_turn(request("api-drain", "slow one", History::Stored), ignore()).await },
        );
    assert!(llm.wait_for_requests(1, Duration::from_secs(10)).await);
    assert_eq!(f.backend.active_turns(), 1);
    assert_eq!(f.backend.health()["active_agents"], 1);

    assert!(f.backend.shutdown(Duration::from_secs(10)).await, "every turn was recorded in time");
    let outcome = running.await.expect("task").expect("turn");
    assert_eq!(outcome.status, TurnStatus::Cancelled);
    assert_eq!(outcome.text, "");
    assert_eq!(stored(&f.store, "api-drain").await, [(Role::User, "slow one".into())]);

    // After shutdown a turn is cancelled before it starts, and leaves nothing behind.
    let late = f.backend.run_turn(request("api-late", "anyone?", History::Stored), ignore()).await.expect("turn");
    assert_eq!(late.status, TurnStatus::Cancelled);
    assert_eq!(f.store.session("api-late").await.expect("get"), None);
    assert_eq!(llm.request_count(), 1);
}

/// Finishes every call because of the output limit.
struct Truncating;

#[async_trait]
impl Provider for Truncating {
    fn name(&self) -> &'static str {
        "truncating"
    }

    async fn complete(
        &self,
        _request: &ChatRequest,
        _stream: bool,
        on_delta: &mut (dyn FnMut(StreamDelta) + Send),
    ) -> Result<Completion, ProviderError> {
        on_delta(StreamDelta::Text("It was the best of".into()));
        Ok(Completion {
            content: "It was the best of".into(),
            reasoning: None,
            tool_calls: Vec::new(),
            usage: Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() },
            finish_reason: FinishReason::Length,
            model: None,
            thinking: Vec::new(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_failed_turns_are_reported_as_such() {
    let f = fixture_with(Ok(agent(Arc::new(Truncating), "limited")), Vec::new(), SqliteOptions::default());
    let outcome = f.backend.run_turn(request("api-trunc", "a story", History::Stored), ignore()).await.expect("turn");
    assert_eq!(outcome.status, TurnStatus::Truncated);
    assert_eq!(outcome.text, "It was the best of");
    let messages = f.store.messages("api-trunc").await.expect("messages");
    assert_eq!(messages[1].finish_reason.as_deref(), Some("length"));

    let llm = ScriptedLlm::start().await;
    llm.push(Reply::error(400));
    let f = fixture(&llm);
    let outcome = f.backend.run_turn(request("api-fail", "hi", History::Stored), ignore()).await.expect("turn");
    match &outcome.status {
        TurnStatus::Failed { error, partial } => {
            assert!(error.contains("400"), "{error}");
            assert!(!partial);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(stored(&f.store, "api-fail").await, [(Role::User, "hi".into())], "the question is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_provider_turns_fail_with_what_to_set_and_store_nothing() {
    let help = herald_core::config::missing_provider_help().to_owned();
    let f = fixture_with(Err(help), Vec::new(), SqliteOptions::default());
    let err = f.backend.run_turn(request("api-none", "hi", History::Stored), ignore()).await.expect_err("no provider");
    match err {
        BackendError::Internal(message) => assert!(message.contains("OPENAI_API_KEY"), "{message}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(f.store.session("api-none").await.expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_anything_runs() {
    let llm = ScriptedLlm::start().await;
    let f = fixture(&llm);
    for id in ["../etc/passwd", "a/b", "", "x\r\ny"] {
        let err = f.backend.run_turn(request(id, "hi", History::Stored), ignore()).await.expect_err(id);
        assert!(matches!(err, BackendError::Invalid(_)), "{id:?}: {err:?}");
    }
    let err = f.backend.run_turn(request("api-ok", "  ", History::Stored), ignore()).await.expect_err("empty");
    assert!(matches!(err, BackendError::Invalid(_)));
    let mut bad_key = request("api-ok", "hi", History::Stored);
    bad_key.session_key = Some("a\nb".into());
    assert!(matches!(f.backend.run_turn(bad_key, ignore()).await, Err(BackendError::Invalid(_))));
    assert_eq!(llm.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_created_listed_updated_forked_and_deleted() {
    let llm = ScriptedLlm::start().await;
    let f = fixture(&llm);
    let b = &f.backend;
    let new = NewApiSession {
        id: "api_1700000000_0000beef".into(),
        model: Some("m".into()),
        title: Some("First".into()),
        system_prompt: Some("Be kind.".into()),
    };
    let created = b.create_session(new.clone()).await.expect("create");
    assert_eq!(created.id, "api_1700000000_0000beef");
    assert_eq!(created.source, "api_server");
    assert_eq!(created.system_prompt.as_deref(), Some("Be kind."));
    assert!(created.started_at > 1.7e9, "float seconds: {}", created.started_at);
    assert!(matches!(b.create_session(new).await, Err(BackendError::Conflict(_))));

    b.run_turn(request(&created.id, "hello", History::Stored), ignore()).await.expect("turn");
    let messages = b.session_messages(&created.id).await.expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].role, Role::User);
    assert!(messages[0].timestamp >= created.started_at);
    assert!(matches!(b.session_messages("missing").await, Err(BackendError::NotFound(_))));

    let renamed = b.update_session(&created.id, Some("Renamed".into()), None).await.expect("rename");
    assert_eq!(renamed.title.as_deref(), Some("Renamed"));
    assert_eq!(renamed.ended_at, None);
    assert!(matches!(b.update_session("missing", Some("x".into()), None).await, Err(BackendError::NotFound(_))));

    let child = b.fork_session(&created.id).await.expect("fork");
    assert_eq!(child.parent_session_id.as_deref(), Some(created.id.as_str()));
    assert_eq!(child.message_count, 2);
    let source = b.session(&created.id).await.expect("get").expect("exists");
    assert_eq!(source.end_reason.as_deref(), Some("branched"));
    assert!(source.ended_at.is_some());
    assert!(matches!(b.fork_session("missing").await, Err(BackendError::NotFound(_))));

    let ended = b.update_session(&child.id, None, Some("user_exit".into())).await.expect("end");
    assert_eq!(ended.end_reason.as_deref(), Some("user_exit"));

    let query =
        |include_children| SessionQuery { limit: 1, offset: 0, source: Some("api_server".into()), include_children };
    let page = b.list_sessions(query(true)).await.expect("list");
    assert_eq!(page.sessions.len(), 1);
    assert!(page.has_more);
    let roots = b.list_sessions(SessionQuery { limit: 10, ..query(false) }).await.expect("roots");
    assert_eq!(roots.sessions.len(), 1);
    assert!(!roots.has_more);
    let other = b.list_sessions(SessionQuery { source: Some("telegram".into()), ..query(true) }).await.expect("none");
    assert!(other.sessions.is_empty());

    assert!(b.delete_session(&created.id).await.expect("delete"));
    assert!(!b.delete_session(&created.id).await.expect("delete again"));
    assert_eq!(b.session(&created.id).await.expect("get"), None);
    let orphan = b.session(&child.id).await.expect("get").expect("the fork stays");
    assert_eq!(orphan.parent_session_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_kept_least_recently_used_first_out() {
    let llm = ScriptedLlm::start().await;
    let mut options = SqliteOptions::default();
    options.max_responses = 2;
    let f = fixture_with(Ok(agent(provider(&llm), "test-model")), Vec::new(), options);
    let b = &f.backend;

    b.put_response("resp_a", json!({"id": "resp_a", "output": []}), Some("chat")).await.expect("put a");
    assert_eq!(b.conversation_head("chat").await.expect("head").as_deref(), Some("resp_a"));
    b.put_response("resp_b", json!({"id": "resp_b"}), Some("chat")).await.expect("put b");
    assert_eq!(b.conversation_head("chat").await.expect("head").as_deref(), Some("resp_b"));
    assert_eq!(b.response("resp_a").await.expect("get"), Some(json!({"id": "resp_a", "output": []})));

    // resp_a was just read, so resp_b is the least recently used.
    b.put_response("resp_c", json!({"id": "resp_c"}), None).await.expect("put c");
    assert_eq!(b.response("resp_b").await.expect("get"), None);
    assert_eq!(b.conversation_head("chat").await.expect("head"), None, "the evicted head is forgotten");
    assert!(b.response("resp_a").await.expect("get").is_some());

    assert!(b.delete_response("resp_a").await.expect("delete"));
    assert!(!b.delete_response("resp_a").await.expect("delete again"));
    assert_eq!(b.response("resp_a").await.expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_the_gateway_state() {
    let llm = ScriptedLlm::start().await;
    let f = fixture(&llm);
    let status = f.backend.status().clone();
    status.set_platform("api_server", "connected", None).expect("platform");
    status.set_state(GatewayState::Running, None).expect("running");
    let health = f.backend.health();
    assert_eq!(health["gateway_state"], "running");
    assert_eq!(health["platforms"]["api_server"]["state"], "connected");
    assert_eq!(health["active_agents"], 0);
    assert_eq!(health["pid"], std::process::id());
    assert!(f.dir.path().exists());
}
