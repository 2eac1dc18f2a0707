//! An in-memory backend that behaves like the gateway's (sessions, messages and stored
//! responses in maps; turns that emit scripted events and record what they did, even
//! when cancelled), plus helpers to drive the router.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use herald_core::backend::{
    Backend, BackendError, EventSink, History, MessageInfo, NewApiSession, SessionInfo, SessionPage, SessionQuery,
    TurnEvent, TurnOutcome, TurnRequest, TurnStatus,
};
use herald_core::{Message, Role, ToolCall, Usage};
use herald_web::{ApiConfig, ApiServer};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

pub const KEY: &str = "test-key-0123456789abcdef";
pub const MODEL: &str = "hermes-agent";

/// One thing a scripted turn does.
#[derive(Clone)]
pub enum Step {
    Delta(String),
    Reasoning(String),
    ToolStart {
        id: String,
        name: String,
        args: String,
    },
    ToolEnd {
        id: String,
        name: String,
        ok: bool,
        result: String,
    },
    Usage(u64, u64),
    /// Waits for one permit of the semaphore (the test decides when the turn goes on).
    Gate(Arc<Semaphore>),
    /// Never finishes; only cancellation ends it.
    Hang,
}

#[derive(Clone)]
pub enum End {
    Complete,
    Truncate,
    Fail(String),
    Error(BackendError),
}

#[derive(Clone)]
pub struct Script {
    pub steps: Vec<Step>,
    pub end: End,
}

pub fn delta(s: &str) -> Step {
    Step::Delta(s.to_string())
}

pub fn tool(id: &str, name: &str, args: &str, result: &str) -> [Step; 2] {
    [
        Step::ToolStart { id: id.into(), name: name.into(), args: args.into() },
        Step::ToolEnd { id: id.into(), name: name.into(), ok: true, result: result.into() },
    ]
}

pub fn script(steps: Vec<Step>, end: End) -> Script {
    Script { steps, end }
}

pub struct FakeBackend {
    pub routes: Vec<(String, String)>,
    calls: Mutex<Vec<String>>,
    turns: Mutex<Vec<TurnRequest>>,
    scripts: Mutex<VecDeque<Script>>,
    sessions: Mutex<BTreeMap<String, SessionInfo>>,
    messages: Mutex<HashMap<String, Vec<MessageInfo>>>,
    responses: Mutex<HashMap<String, Value>>,
    conversations: Mutex<HashMap<String, String>>,
    pub started: watch::Sender<usize>,
    pub cancelled: watch::Sender<usize>,
    next_message_id: Mutex<i64>,
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend {
            routes: vec![("fast".into(), "gpt-4o-mini".into())],
            calls: Mutex::default(),
            turns: Mutex::default(),
            scripts: Mutex::default(),
            sessions: Mutex::default(),
            messages: Mutex::default(),
            responses: Mutex::default(),
            conversations: Mutex::default(),
            started: watch::channel(0).0,
            cancelled: watch::channel(0).0,
            next_message_id: Mutex::new(1),
        }
    }
}

pub fn session_info(id: &str) -> SessionInfo {
    SessionInfo {
        id: id.into(),
        source: "api_server".into(),
        session_key: None,
        title: None,
        model: Some(MODEL.into()),
        system_prompt: None,
        parent_session_id: None,
        started_at: 1_700_000_000.0,
        updated_at: 1_700_000_000.0,
        ended_at: None,
        end_reason: None,
        message_count: 0,
        tool_call_count: 0,
        input_tokens: 0,
        output_tokens: 0,
    }
}

impl FakeBackend {
    pub fn push(&self, s: Script) {
        self.scripts.lock().unwrap().push_back(s);
    }

    /// Every backend method called so far, by name.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn turns(&self) -> Vec<TurnRequest> {
        self.turns.lock().unwrap().clone()
    }

    pub fn last_turn(&self) -> TurnRequest {
        self.turns().pop().expect("a turn ran")
    }

    pub fn stored_response(&self, id: &str) -> Option<Value> {
        self.responses.lock().unwrap().get(id).cloned()
    }

    pub fn messages_of(&self, id: &str) -> Vec<MessageInfo> {
        self.messages.lock().unwrap().get(id).cloned().unwrap_or_default()
    }

    pub fn add_session(&self, id: &str) {
        self.sessions.lock().unwrap().insert(id.into(), session_info(id));
    }

    pub fn add_message(&self, session: &str, role: Role, content: &str) {
        let mut next = self.next_message_id.lock().unwrap();
        let m = MessageInfo {
            id: *next,
            session_id: session.into(),
            role,
            content: content.into(),
            tool_call_id: None,
            tool_calls: vec![],
            tool_name: None,
            timestamp: 1_700_000_001.0,
            token_count: None,
            finish_reason: None,
        };
        *next += 1;
        self.messages.lock().unwrap().entry(session.into()).or_default().push(m);
        if let Some(s) = self.sessions.lock().unwrap().get_mut(session) {
            s.message_count += 1;
        }
    }

    fn log(&self, call: &str) {
        self.calls.lock().unwrap().push(call.to_string());
    }

    /// Waits (bounded, so a bug fails instead of hanging) until `n` turns have started.
    pub async fn wait_started(&self, n: usize) {
        let mut rx = self.started.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| *v >= n)).await.expect("turn start").unwrap();
    }

    /// Waits (bounded) until `n` turns have been cancelled.
    pub async fn wait_cancelled(&self, n: usize) {
        let mut rx = self.cancelled.subscribe();
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| *v >= n)).await.expect("turn cancel").unwrap();
    }

    pub fn cancelled_count(&self) -> usize {
        *self.cancelled.borrow()
    }
}

/// Records what a turn did when its future is dropped before the end, as the gateway does.
struct CancelGuard<'a> {
    backend: &'a FakeBackend,
    session: String,
    text: String,
    armed: bool,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            if !self.text.is_empty() {
                self.backend.add_message(&self.session, Role::Assistant, &self.text);
            }
            self.backend.cancelled.send_modify(|n| *n += 1);
        }
    }
}

#[async_trait]
impl Backend for FakeBackend {
    fn model_name(&self) -> String {
        MODEL.into()
    }

    fn model_routes(&self) -> Vec<(String, String)> {
        self.routes.clone()
    }

    fn health(&self) -> Value {
        json!({"gateway_state": "running", "platforms": {"telegram": {"state": "connected"}}, "active_agents": 7, "updated_at": 1.5})
    }

    async fn run_turn(&self, request: TurnRequest, mut events: EventSink) -> Result<TurnOutcome, BackendError> {
        self.log("run_turn");
        self.turns.lock().unwrap().push(request.clone());
        let session = request.session_id.clone();
        if !self.sessions.lock().unwrap().contains_key(&session) {
            self.add_session(&session);
        }
        self.add_message(&session, Role::User, &request.input);
        let script = self.scripts.lock().unwrap().pop_front().unwrap_or_else(|| Script {
            steps: vec![Step::Delta(format!("echo: {}", request.input)), Step::Usage(3, 5)],
            end: End::Complete,
        });
        self.started.send_modify(|n| *n += 1);
        let mut guard = CancelGuard { backend: self, session: session.clone(), text: String::new(), armed: true };
        let mut usage = Usage::default();
        let mut calls: Vec<(ToolCall, String)> = Vec::new();
        for step in script.steps {
            match step {
                Step::Delta(t) => {
                    guard.text.push_str(&t);
                    events(TurnEvent::TextDelta(t));
                }
                Step::Reasoning(t) => events(TurnEvent::ReasoningDelta(t)),
                Step::ToolStart { id, name, args } => {
                    calls.push((
                        ToolCall { id: id.clone(), name: name.clone(), arguments: args.clone() },
                        String::new(),
                    ));
                    events(TurnEvent::ToolStarted { id, name, arguments: args });
                }
                Step::ToolEnd { id, name, ok, result } => {
                    if let Some(c) = calls.iter_mut().find(|(c, _)| c.id == id) {
                        c.1 = result.clone();
                    }
                    events(TurnEvent::ToolCompleted { id, name, ok, result });
                }
                Step::Usage(i, o) => {
                    let u = Usage { input_tokens: i, output_tokens: o, ..Usage::default() };
                    usage += u;
                    events(TurnEvent::Usage(u));
                }
                Step::Gate(s) => s.acquire().await.expect("gate").forget(),
                Step::Hang => std::future::pending::<()>().await,
            }
            tokio::task::yield_now().await;
        }
        guard.armed = false;
        let text = std::mem::take(&mut guard.text);
        if !text.is_empty() {
            self.add_message(&session, Role::Assistant, &text);
        }
        let status = match script.end {
            End::Complete => TurnStatus::Completed,
            End::Truncate => TurnStatus::Truncated,
            End::Fail(error) => TurnStatus::Failed { error, partial: !text.is_empty() },
            End::Error(e) => return Err(e),
        };
        Ok(TurnOutcome {
            session_id: session,
            text,
            usage,
            status,
            model: request.model.unwrap_or_else(|| MODEL.into()),
            tool_calls: calls,
        })
    }

    async fn list_sessions(&self, q: SessionQuery) -> Result<SessionPage, BackendError> {
        self.log("list_sessions");
        let all: Vec<SessionInfo> = self
            .sessions
            .lock()
            .unwrap()
            .values()
            .filter(|s| q.source.as_ref().is_none_or(|src| &s.source == src))
            .filter(|s| q.include_children || s.parent_session_id.is_none())
            .cloned()
            .collect();
        let page: Vec<SessionInfo> = all.iter().skip(q.offset as usize).take(q.limit as usize).cloned().collect();
        Ok(SessionPage { has_more: (q.offset as usize + page.len()) < all.len(), sessions: page })
    }

    async fn create_session(&self, new: NewApiSession) -> Result<SessionInfo, BackendError> {
        self.log("create_session");
        let mut sessions = self.sessions.lock().unwrap();
        if sessions.contains_key(&new.id) {
            return Err(BackendError::Conflict(format!("session {} exists", new.id)));
        }
        let mut s = session_info(&new.id);
        s.model = new.model;
        s.system_prompt = new.system_prompt;
        s.title = new.title;
        sessions.insert(new.id, s.clone());
        Ok(s)
    }

    async fn session(&self, id: &str) -> Result<Option<SessionInfo>, BackendError> {
        self.log("session");
        Ok(self.sessions.lock().unwrap().get(id).cloned())
    }

    async fn update_session(
        &self,
        id: &str,
        title: Option<String>,
        end_reason: Option<String>,
    ) -> Result<SessionInfo, BackendError> {
        self.log("update_session");
        let mut sessions = self.sessions.lock().unwrap();
        let s = sessions.get_mut(id).ok_or_else(|| BackendError::NotFound(format!("no session {id}")))?;
        if let Some(t) = title {
            s.title = if t.is_empty() { None } else { Some(t) };
        }
        if let Some(r) = end_reason {
            s.end_reason = Some(r);
            s.ended_at = Some(1_700_000_100.0);
        }
        Ok(s.clone())
    }

    async fn delete_session(&self, id: &str) -> Result<bool, BackendError> {
        self.log("delete_session");
        self.messages.lock().unwrap().remove(id);
        Ok(self.sessions.lock().unwrap().remove(id).is_some())
    }

    async fn session_messages(&self, id: &str) -> Result<Vec<MessageInfo>, BackendError> {
        self.log("session_messages");
        Ok(self.messages_of(id))
    }

    async fn fork_session(&self, id: &str) -> Result<SessionInfo, BackendError> {
        self.log("fork_session");
        let child_id = format!("{id}-fork");
        {
            let mut sessions = self.sessions.lock().unwrap();
            let parent = sessions.get_mut(id).ok_or_else(|| BackendError::NotFound(id.into()))?;
            parent.end_reason = Some("branched".into());
            let mut child = session_info(&child_id);
            child.parent_session_id = Some(id.into());
            child.message_count = parent.message_count;
            sessions.insert(child_id.clone(), child);
        }
        let copied: Vec<MessageInfo> =
            self.messages_of(id).into_iter().map(|m| MessageInfo { session_id: child_id.clone(), ..m }).collect();
        self.messages.lock().unwrap().insert(child_id.clone(), copied);
        Ok(self.sessions.lock().unwrap()[&child_id].clone())
    }

    async fn put_response(&self, id: &str, response: Value, conversation: Option<&str>) -> Result<(), BackendError> {
        self.log("put_response");
        self.responses.lock().unwrap().insert(id.into(), response);
        if let Some(c) = conversation {
            self.conversations.lock().unwrap().insert(c.into(), id.into());
        }
        Ok(())
    }

    async fn response(&self, id: &str) -> Result<Option<Value>, BackendError> {
        self.log("response");
        Ok(self.responses.lock().unwrap().get(id).cloned())
    }

    async fn delete_response(&self, id: &str) -> Result<bool, BackendError> {
        self.log("delete_response");
        Ok(self.responses.lock().unwrap().remove(id).is_some())
    }

    async fn conversation_head(&self, name: &str) -> Result<Option<String>, BackendError> {
        self.log("conversation_head");
        Ok(self.conversations.lock().unwrap().get(name).cloned())
    }
}

pub fn config() -> ApiConfig {
    ApiConfig {
        key: KEY.into(),
        cors_origins: vec![],
        max_concurrent_runs: 10,
        drain_timeout: Duration::from_secs(30),
        version: "9.9.9-test".into(),
    }
}

pub struct App {
    pub backend: Arc<FakeBackend>,
    pub server: ApiServer,
    pub router: Router,
}

pub fn app() -> App {
    app_with(config())
}

pub fn app_with(config: ApiConfig) -> App {
    let backend = Arc::new(FakeBackend::default());
    let server = ApiServer::new(config, backend.clone());
    let router = server.router();
    App { backend, server, router }
}

/// A request with the bearer key.
pub fn request(method: Method, uri: &str, body: Option<Value>) -> Request<Body> {
    let b = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {KEY}"));
    match body {
        Some(v) => b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

pub fn get(uri: &str) -> Request<Body> {
    request(Method::GET, uri, None)
}

pub fn post(uri: &str, body: Value) -> Request<Body> {
    request(Method::POST, uri, Some(body))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The error envelope's `code`.
    pub fn code(&self) -> Value {
        self.json()["error"]["code"].clone()
    }

    pub fn frames(&self) -> Vec<Frame> {
        parse_frames(&self.text)
    }
}

impl App {
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// Sends and returns the response with its body unread (for streams).
    pub async fn open(&self, req: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(req).await.unwrap()
    }
}

/// One server-sent event: its name, its data, or a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub event: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("a data frame")).expect("JSON data")
    }
}

pub fn parse_frames(text: &str) -> Vec<Frame> {
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut f = Frame { event: None, data: None, comment: None };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    f.event = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    f.data = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix(": ") {
                    f.comment = Some(v.to_string());
                }
            }
            f
        })
        .collect()
}

/// Reads the next body chunk of a streaming response, as text.
pub async fn next_chunk(body: &mut Body) -> Option<String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(120), body.frame()).await.expect("a chunk in time")?;
        if let Ok(data) = frame.unwrap().into_data() {
            return Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
}

/// Messages of a history the fake received.
pub fn provided(turn: &TurnRequest) -> Vec<Message> {
    match &turn.history {
        History::Provided(m) => m.clone(),
        History::Stored => panic!("expected provided history"),
    }
}
