//! `/v1/runs`: start a turn, poll it, follow its events, stop it.
//!
//! Unlike Hermes, whose single event queue is consumed by the first reader and swept 300 s
//! after creation even while the run is still going, every event is kept: a client that
//! connects late (or twice) sees the run from its start. Buffers are dropped 300 s after
//! the run ends and statuses 3600 s after, swept whenever the runs API is used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use herald_core::backend::{History, TurnEvent, TurnOutcome, TurnRequest, TurnStatus};
use herald_core::{Message, Role};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::body::{PathParam, opt_scalar_string, opt_string, read_object};
use crate::content::{flatten_text, has_visible_text, normalize_content, scalar_text, truthy};
use crate::errors::{ApiError, ApiResult, JsonReply};
use crate::headers::{self, session_key_header, validate_session_id};
use crate::ids::{run_id, unix_f64};
use crate::outcome::{message_from_json, tool_preview, usage};
use crate::sse::{self, FrameSource, KEEPALIVE};
use crate::state::SharedState;
use crate::turn::{Step, TurnHandle, spawn_turn};

/// An ended run's events are kept this long (Hermes `_RUN_STREAM_TTL`).
pub(crate) const EVENTS_TTL: Duration = Duration::from_secs(300);
/// An ended run's status is kept this long (Hermes `_RUN_STATUS_TTL`).
pub(crate) const STATUS_TTL: Duration = Duration::from_secs(3600);
/// How long a stop request waits for the run to wind down (Hermes: 5 s).
const STOP_WAIT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct RunRegistry {
    runs: Mutex<HashMap<String, Arc<Run>>>,
}

impl RunRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Run>>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Option<Arc<Run>> {
        self.sweep(Instant::now());
        self.lock().get(id).cloned()
    }

    fn insert(&self, run: Arc<Run>) {
        self.sweep(Instant::now());
        self.lock().insert(run.id.clone(), run);
    }

    /// Drops what has outlived its time.
    pub(crate) fn sweep(&self, now: Instant) {
        self.lock().retain(|_, run| {
            let Some(ended) = run.info().ended_at else { return true };
            let age = now.saturating_duration_since(ended);
            if age > EVENTS_TTL {
                run.log().events = None;
            }
            age <= STATUS_TTL
        });
    }
}

struct Info {
    status: &'static str,
    created_at: f64,
    updated_at: f64,
    session_id: String,
    model: String,
    last_event: Option<String>,
    output: Option<String>,
    usage: Option<Value>,
    error: Option<String>,
    ended_at: Option<Instant>,
}

struct Log {
    /// `None` once swept.
    events: Option<Vec<Value>>,
    closed: bool,
}

pub(crate) struct Run {
    id: String,
    info: Mutex<Info>,
    log: Mutex<Log>,
    /// Bumped on every new event, so followers wake.
    changed: watch::Sender<u64>,
    cancel: CancellationToken,
}

impl Run {
    fn info(&self) -> std::sync::MutexGuard<'_, Info> {
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_status(&self, status: &'static str) {
        let mut info = self.info();
        info.status = status;
        info.updated_at = unix_f64();
    }

    /// Appends `{event, run_id, timestamp, …fields}` and records it as the last event.
    fn push(&self, event: &str, fields: Value) {
        let mut record = json!({"event": event, "run_id": self.id, "timestamp": unix_f64()});
        if let (Some(r), Value::Object(f)) = (record.as_object_mut(), fields) {
            r.extend(f);
        }
        {
            let mut info = self.info();
            info.last_event = Some(event.to_string());
            info.updated_at = unix_f64();
        }
        if let Some(events) = self.log().events.as_mut() {
            events.push(record);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Ends the run: its terminal status, then the stream is closed.
    fn end(&self, status: &'static str, event: &str, fields: Value) {
        self.push(event, fields);
        {
            let mut info = self.info();
            info.status = status;
            info.ended_at = Some(Instant::now());
        }
        self.log().closed = true;
        self.changed.send_modify(|n| *n += 1);
    }

    fn is_ended(&self) -> bool {
        self.info().ended_at.is_some()
    }

    fn status_json(&self) -> Value {
        let i = self.info();
        json!({
            "object": "hermes.run",
            "run_id": self.id,
            "status": i.status,
            "created_at": i.created_at,
            "updated_at": i.updated_at,
            "session_id": i.session_id,
            "model": i.model,
            "last_event": i.last_event,
            "output": i.output,
            "usage": i.usage,
            "error": i.error,
        })
    }
}

fn run_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Run not found: {id}"), "run_not_found")
}

/// A parsed `POST /v1/runs` body.
struct RunRequest {
    input: String,
    history: Vec<Message>,
    explicit_history: bool,
    instructions: Option<String>,
    previous_response_id: Option<String>,
    session_id: Option<String>,
    model: Option<String>,
}

fn parse(body: &Map<String, Value>) -> Result<RunRequest, ApiError> {
    let raw = body.get("input");
    if !truthy(raw) {
        return Err(ApiError::bad_request("Missing 'input' field").param("input").code("missing_input"));
    }
    let input = match raw {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let last = items.last().and_then(|i| i.get("content")).unwrap_or(&Value::Null);
            normalize_content(last, &format!("input[{}].content", items.len() - 1))?
        }
        _ => String::new(),
    };
    if !has_visible_text(&input) {
        return Err(ApiError::bad_request("No user message found in input")
            .param("input")
            .code("missing_user_message"));
    }
    let mut history = Vec::new();
    let explicit_history = truthy(body.get("conversation_history"));
    if explicit_history {
        let Some(entries) = body.get("conversation_history").and_then(Value::as_array) else {
            return Err(ApiError::bad_request("'conversation_history' must be an array of message objects")
                .param("conversation_history")
                .code("invalid_conversation_history"));
        };
        for (i, entry) in entries.iter().enumerate() {
            let Some(e) = entry.as_object().filter(|e| e.contains_key("role") && e.contains_key("content")) else {
                return Err(ApiError::bad_request(format!(
                    "conversation_history[{i}] must have 'role' and 'content' fields"
                ))
                .param(format!("conversation_history[{i}]"))
                .code("invalid_conversation_history"));
            };
            history.extend(history_message(&scalar_text(&e["role"]), &e["content"]));
        }
    } else if let Some(Value::Array(items)) = raw {
        // Earlier items of a message array are the history.
        for item in &items[..items.len() - 1] {
            if let (Some(role), Some(content)) = (item.get("role"), item.get("content"))
                && truthy(Some(role))
                && truthy(Some(content))
            {
                history.extend(history_message(&scalar_text(role), content));
            }
        }
    }
    let session_id = opt_scalar_string(body, "session_id")?.filter(|s| !s.is_empty());
    if let Some(id) = &session_id {
        validate_session_id(id, "session_id")?;
    }
    Ok(RunRequest {
        input,
        history,
        explicit_history,
        instructions: opt_string(body, "instructions")?,
        previous_response_id: opt_string(body, "previous_response_id")?.filter(|s| !s.is_empty()),
        session_id,
        model: opt_string(body, "model")?,
    })
}

fn history_message(role: &str, content: &Value) -> Option<Message> {
    let role = match role {
        "system" | "developer" => Role::System,
        "assistant" => Role::Assistant,
        "tool" => return None,
        _ => Role::User,
    };
    Some(Message { role, content: flatten_text(content), tool_calls: Vec::new(), tool_call_id: None, tool_name: None })
}

pub(crate) async fn start(State(state): State<SharedState>, request_headers: HeaderMap, body: Body) -> Response {
    match start_run(state, request_headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn start_run(state: SharedState, request_headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let session_key = session_key_header(&request_headers)?;
    let permit = state.turns.admit()?;
    let body = read_object(body, false).await?;
    let mut req = parse(&body)?;
    let mut stored_session = None;
    if !req.explicit_history
        && let Some(prev) = &req.previous_response_id
    {
        // Hermes silently ignores an unknown previous response here; the turn would then
        // run without the context the client asked for, so it is a 404 as in /v1/responses.
        let Some(stored) = state.backend.response(prev).await.map_err(|e| state.backend_error(e))? else {
            return Err(ApiError::not_found(
                format!("Previous response not found: {prev}"),
                "previous_response_not_found",
            )
            .param("previous_response_id"));
        };
        let chain: Vec<Message> = stored
            .get("conversation_history")
            .and_then(Value::as_array)
            .map(|h| h.iter().filter_map(message_from_json).collect())
            .unwrap_or_default();
        req.history = chain;
        stored_session = stored.get("session_id").and_then(Value::as_str).map(str::to_string);
        if req.instructions.is_none() {
            req.instructions = stored.get("instructions").and_then(Value::as_str).map(str::to_string);
        }
    }
    let id = run_id();
    let explicit_session = req.session_id.is_some();
    let session_id = req.session_id.or(stored_session).unwrap_or_else(|| id.clone());
    // A run naming its session without sending history continues that session's
    // transcript (Hermes would run it with no history at all).
    let history =
        if req.history.is_empty() && explicit_session { History::Stored } else { History::Provided(req.history) };
    let model = req.model.clone().unwrap_or_else(|| state.backend.model_name());
    let turn = TurnRequest {
        session_id: session_id.clone(),
        session_key: session_key.clone(),
        history,
        input: req.input,
        ephemeral_system: req.instructions,
        model: req.model,
        title: None,
    };
    let handle = spawn_turn(state.backend.clone(), &state.turns, permit, turn);
    let now = unix_f64();
    let run = Arc::new(Run {
        id: id.clone(),
        info: Mutex::new(Info {
            status: "queued",
            created_at: now,
            updated_at: now,
            session_id,
            model,
            last_event: None,
            output: None,
            usage: None,
            error: None,
            ended_at: None,
        }),
        log: Mutex::new(Log { events: Some(Vec::new()), closed: false }),
        changed: watch::channel(0).0,
        cancel: handle.token(),
    });
    state.runs.insert(run.clone());
    tokio::spawn(follow(state.clone(), run, handle));
    tracing::debug!(run = %id, "run started");
    let mut reply = JsonReply::ok(json!({"run_id": id, "status": "started"})).status(StatusCode::ACCEPTED);
    if let Some(v) = session_key.as_deref().and_then(headers::value) {
        reply = reply.headers([(headers::SESSION_KEY, v)]);
    }
    Ok(reply.into_response())
}

/// Turns the turn's events into run events until it ends.
async fn follow(state: SharedState, run: Arc<Run>, mut handle: TurnHandle) {
    run.set_status("running");
    let mut started: HashMap<String, Instant> = HashMap::new();
    let mut reasoning = String::new();
    let flush = |reasoning: &mut String, run: &Run| {
        if !reasoning.is_empty() {
            run.push("reasoning.available", json!({"text": std::mem::take(reasoning)}));
        }
    };
    loop {
        match handle.next(None).await {
            Step::Idle => {}
            Step::Event(TurnEvent::ReasoningDelta(t)) => reasoning.push_str(&t),
            Step::Event(TurnEvent::Usage(_)) => {}
            Step::Event(TurnEvent::TextDelta(t)) => {
                flush(&mut reasoning, &run);
                if !t.is_empty() {
                    run.push("message.delta", json!({"delta": t}));
                }
            }
            Step::Event(TurnEvent::ToolStarted { id, name, arguments }) => {
                flush(&mut reasoning, &run);
                if !name.starts_with('_') {
                    started.insert(id, Instant::now());
                    run.push("tool.started", json!({"tool": name, "preview": tool_preview(&name, &arguments)}));
                }
            }
            Step::Event(TurnEvent::ToolCompleted { id, name, ok, .. }) => {
                flush(&mut reasoning, &run);
                if let Some(at) = started.remove(&id) {
                    let duration = (at.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                    run.push("tool.completed", json!({"tool": name, "duration": duration, "error": !ok}));
                }
            }
            Step::Done(result) => {
                flush(&mut reasoning, &run);
                match result {
                    Ok(outcome) => finish(&state, &run, outcome),
                    Err(e) => {
                        let error = state.redact(&e.to_string());
                        run.info().error = Some(error.clone());
                        run.end("failed", "run.failed", json!({"error": error}));
                    }
                }
                return;
            }
        }
    }
}

fn finish(state: &SharedState, run: &Run, outcome: TurnOutcome) {
    match outcome.status {
        TurnStatus::Completed | TurnStatus::Truncated => {
            let u = usage(&outcome.usage);
            {
                let mut info = run.info();
                info.output = Some(outcome.text.clone());
                info.usage = Some(u.clone());
            }
            let mut fields = json!({"output": outcome.text, "usage": u});
            if outcome.status == TurnStatus::Truncated {
                fields["truncated"] = json!(true);
            }
            run.end("completed", "run.completed", fields);
        }
        TurnStatus::Failed { error, .. } => {
            let error = state.redact(&error);
            run.info().error = Some(error.clone());
            run.end("failed", "run.failed", json!({"error": error}));
        }
        TurnStatus::Cancelled => run.end("cancelled", "run.cancelled", json!({})),
    }
}

pub(crate) async fn status(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    let run = state.runs.get(&id).ok_or_else(|| run_not_found(&id))?;
    Ok(JsonReply::ok(run.status_json()))
}

pub(crate) async fn events(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult<Response> {
    let run = state.runs.get(&id).ok_or_else(|| run_not_found(&id))?;
    if run.log().events.is_none() {
        return Err(ApiError::not_found(format!("Run events are no longer available: {id}"), "run_not_found"));
    }
    let rx = run.changed.subscribe();
    Ok(sse::response(RunEvents { run, rx, next: 0, done: false }, Vec::new()))
}

struct RunEvents {
    run: Arc<Run>,
    rx: watch::Receiver<u64>,
    next: usize,
    done: bool,
}

impl FrameSource for RunEvents {
    async fn next_frames(&mut self) -> Option<Vec<Bytes>> {
        if self.done {
            return None;
        }
        loop {
            self.rx.borrow_and_update();
            let (batch, closed) = {
                let log = self.run.log();
                match &log.events {
                    Some(events) => (events[self.next.min(events.len())..].to_vec(), log.closed),
                    None => (Vec::new(), true),
                }
            };
            if !batch.is_empty() {
                self.next += batch.len();
                return Some(batch.iter().map(sse::data).collect());
            }
            if closed {
                self.done = true;
                return Some(vec![sse::comment("stream closed")]);
            }
            match tokio::time::timeout(KEEPALIVE, self.rx.changed()).await {
                Err(_) => return Some(vec![sse::comment("keepalive")]),
                Ok(Err(_)) => {
                    self.done = true;
                    return Some(vec![sse::comment("stream closed")]);
                }
                Ok(Ok(())) => {}
            }
        }
    }
}

pub(crate) async fn stop(State(state): State<SharedState>, PathParam(id): PathParam) -> ApiResult {
    let run = state.runs.get(&id).filter(|r| !r.is_ended()).ok_or_else(|| run_not_found(&id))?;
    run.set_status("stopping");
    run.info().last_event = Some("run.stopping".into());
    run.cancel.cancel();
    // Give the run a moment to end, so a poll right after sees `cancelled`.
    let mut rx = run.changed.subscribe();
    let _ = tokio::time::timeout(STOP_WAIT, rx.wait_for(|_| run.is_ended())).await;
    Ok(JsonReply::ok(json!({"run_id": id, "status": "stopping"})))
}

/// herald's tools never stop to ask for approval, so there is never one to answer: the
/// choice is checked as Hermes does, then the answer is Hermes's `approval_not_active`.
pub(crate) async fn approval(State(state): State<SharedState>, PathParam(id): PathParam, body: Body) -> ApiResult {
    state.runs.get(&id).ok_or_else(|| run_not_found(&id))?;
    let body = read_object(body, false).await?;
    let raw = body.get("choice").map(scalar_text).unwrap_or_default().trim().to_lowercase();
    let choice = match raw.as_str() {
        "approve" | "approved" | "allow" => "once",
        other => other,
    };
    if !["once", "session", "always", "deny"].contains(&choice) {
        return Err(ApiError::bad_request("Invalid approval choice; expected one of: once, session, always, deny")
            .param("choice")
            .code("invalid_approval_choice"));
    }
    Err(ApiError::new(StatusCode::CONFLICT, format!("Run has no active approval session: {id}"))
        .code("approval_not_active"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> Arc<Run> {
        Arc::new(Run {
            id: id.into(),
            info: Mutex::new(Info {
                status: "running",
                created_at: 0.0,
                updated_at: 0.0,
                session_id: "s".into(),
                model: "m".into(),
                last_event: None,
                output: None,
                usage: None,
                error: None,
                ended_at: None,
            }),
            log: Mutex::new(Log { events: Some(Vec::new()), closed: false }),
            changed: watch::channel(0).0,
            cancel: CancellationToken::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn ended_runs_lose_events_then_status() {
        let registry = RunRegistry::default();
        let live = run("live");
        let ended = run("ended");
        registry.insert(live.clone());
        registry.insert(ended.clone());
        ended.end("completed", "run.completed", json!({}));
        let t0 = Instant::now();
        registry.sweep(t0 + EVENTS_TTL + Duration::from_secs(1));
        assert!(ended.log().events.is_none());
        assert!(registry.lock().contains_key("ended"));
        registry.sweep(t0 + STATUS_TTL + Duration::from_secs(1));
        assert!(!registry.lock().contains_key("ended"));
        // A run that is still going is never swept.
        assert!(registry.lock().contains_key("live"));
        assert!(live.log().events.is_some());
    }

    #[test]
    fn run_bodies() {
        let b = json!({"input": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "q"}]}]});
        let r = parse(b.as_object().unwrap()).unwrap();
        assert_eq!(r.input, "q");
        assert_eq!(r.history, vec![Message::system("s")]);
        for b in [
            json!({}),
            json!({"input": ""}),
            json!({"input": [{"content": " "}]}),
            json!({"input": "x", "session_id": "../x"}),
        ] {
            assert!(parse(b.as_object().unwrap()).is_err(), "{b}");
        }
    }
}
