//! The gateway as the API server sees it: [`GatewayBackend`] implements
//! [`herald_core::backend::Backend`] over the store and the agent.
//!
//! A turn runs in its own task under a cancellation token. The caller's future only
//! waits for that task, so when the caller goes away (a client disconnects, the server
//! gives up draining) the token is cancelled and the task still finishes the turn as
//! cancelled and records what was done. Each turn costs two writes: the user's message
//! (creating the session on first use) before the model is called, and the turn's
//! output after.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_agent::{Agent, TurnError, TurnInput, TurnOutput};
use herald_core::backend::{
    Backend, BackendError, EventSink, History, MessageInfo, NewApiSession, SessionInfo, SessionPage, SessionQuery,
    TurnEvent, TurnOutcome, TurnRequest, TurnStatus,
};
use herald_core::{FinishReason, Message, Platform, Role, ToolCall, Usage};
use herald_store::{
    NewMessage, NewSession, SessionListQuery, SessionPatch, SessionRecord, Store, StoreError, StoredMessage,
    check_session_id,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conversation::{record_output, stored_history};
use crate::prompt::PromptFiles;
use crate::status::GatewayStatus;

/// An agent ready to answer, or the message that says what to configure for one.
pub type AgentSlot = Result<Arc<Agent>, String>;

/// A model alias a client may name in `model` (`model_routes`).
pub struct RouteAgent {
    pub alias: String,
    /// The model the alias stands for, as `/v1/models` shows it.
    pub model: String,
    pub agent: AgentSlot,
}

/// What [`GatewayBackend::new`] is built from.
pub struct BackendSetup {
    pub store: Arc<dyn Store>,
    pub prompt: PromptFiles,
    /// The model id the API advertises (`API_SERVER_MODEL_NAME`).
    pub model_name: String,
    /// Answers every turn whose `model` is not a route alias.
    pub agent: AgentSlot,
    pub routes: Vec<RouteAgent>,
    pub status: Arc<GatewayStatus>,
}

/// [`Backend`] over the gateway's store and agents. Cheap to clone.
#[derive(Clone)]
pub struct GatewayBackend {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    prompt: PromptFiles,
    model_name: String,
    agent: AgentSlot,
    routes: Vec<RouteAgent>,
    status: Arc<GatewayStatus>,
    /// Every running turn task, so shutdown can wait until each is recorded.
    turns: TaskTracker,
    /// The parent of every turn's token: cancelling it stops them all.
    stop: CancellationToken,
}

impl GatewayBackend {
    pub fn new(setup: BackendSetup) -> Self {
        let BackendSetup { store, prompt, model_name, agent, routes, status } = setup;
        GatewayBackend {
            inner: Arc::new(Inner {
                store,
                prompt,
                model_name,
                agent,
                routes,
                status,
                turns: TaskTracker::new(),
                stop: CancellationToken::new(),
            }),
        }
    }

    pub fn status(&self) -> &Arc<GatewayStatus> {
        &self.inner.status
    }

    /// Turns running now.
    pub fn active_turns(&self) -> usize {
        self.inner.turns.len()
    }

    /// Cancels every running turn (and any started later); each still records what it
    /// had done.
    pub fn cancel_turns(&self) {
        self.inner.stop.cancel();
    }

    /// Cancels every running turn and waits until each has recorded its outcome, at most
    /// `within`. Returns whether all finished in time.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.cancel_turns();
        self.inner.turns.close();
        tokio::time::timeout(within, self.inner.turns.wait()).await.is_ok()
    }
}

#[async_trait]
impl Backend for GatewayBackend {
    fn model_name(&self) -> String {
        self.inner.model_name.clone()
    }

    fn model_routes(&self) -> Vec<(String, String)> {
        self.inner.routes.iter().map(|r| (r.alias.clone(), r.model.clone())).collect()
    }

    fn health(&self) -> serde_json::Value {
        self.inner.status.to_json(Some(self.active_turns()))
    }

    async fn run_turn(&self, request: TurnRequest, events: EventSink) -> Result<TurnOutcome, BackendError> {
        check_session_id(&request.session_id).map_err(store_error)?;
        if let Some(key) = &request.session_key
            && (key.trim().is_empty() || key.chars().count() > 256 || key.chars().any(char::is_control))
        {
            return Err(BackendError::Invalid(
                "the session key must be 1 to 256 characters without control characters".into(),
            ));
        }
        if request.input.trim().is_empty() {
            return Err(BackendError::Invalid("the message is empty".into()));
        }
        let agent = self.inner.agent_for(request.model.as_deref())?;

        let cancel = self.inner.stop.child_token();
        // Dropping this future (the client went away) drops the guard, which cancels
        // the turn; the task below then records what the turn had done.
        let guard = cancel.clone().drop_guard();
        let inner = Arc::clone(&self.inner);
        let task = self.inner.turns.spawn(async move { inner.turn(agent, request, events, cancel).await });
        let result = task.await;
        guard.disarm();
        result.map_err(|e| BackendError::Internal(format!("the turn stopped unexpectedly: {e}")))?
    }

    async fn list_sessions(&self, query: SessionQuery) -> Result<SessionPage, BackendError> {
        let list = self
            .inner
            .store
            .list_sessions(SessionListQuery {
                limit: query.limit,
                offset: query.offset,
                platform: query.source,
                include_children: query.include_children,
            })
            .await
            .map_err(store_error)?;
        Ok(SessionPage { sessions: list.sessions.iter().map(session_info).collect(), has_more: list.has_more })
    }

    async fn create_session(&self, new: NewApiSession) -> Result<SessionInfo, BackendError> {
        let record = self
            .inner
            .store
            .create_session(NewSession {
                key: Some(new.id.clone()),
                id: Some(new.id),
                platform: Platform::ApiServer.to_string(),
                title: new.title,
                model: new.model,
                system_prompt: new.system_prompt,
                ..NewSession::default()
            })
            .await
            .map_err(store_error)?;
        Ok(session_info(&record))
    }

    async fn session(&self, id: &str) -> Result<Option<SessionInfo>, BackendError> {
        Ok(self.inner.store.session(id).await.map_err(store_error)?.as_ref().map(session_info))
    }

    async fn update_session(
        &self,
        id: &str,
        title: Option<String>,
        end_reason: Option<String>,
    ) -> Result<SessionInfo, BackendError> {
        let store = &self.inner.store;
        if title.is_some() {
            let patch = SessionPatch { title: Some(title), ..SessionPatch::default() };
            store.update_session(id, patch).await.map_err(store_error)?;
        }
        if let Some(reason) = end_reason {
            store.end_session(id, &reason).await.map_err(store_error)?;
        }
        let record = store.session(id).await.map_err(store_error)?;
        record.as_ref().map(session_info).ok_or_else(|| not_found(id))
    }

    async fn delete_session(&self, id: &str) -> Result<bool, BackendError> {
        self.inner.store.delete_session(id).await.map_err(store_error)
    }

    async fn session_messages(&self, id: &str) -> Result<Vec<MessageInfo>, BackendError> {
        let messages = self.inner.store.messages(id).await.map_err(store_error)?;
        Ok(messages.into_iter().map(message_info).collect())
    }

    async fn fork_session(&self, id: &str) -> Result<SessionInfo, BackendError> {
        Ok(session_info(&self.inner.store.fork_session(id).await.map_err(store_error)?))
    }

    async fn put_response(
        &self,
        id: &str,
        response: serde_json::Value,
        conversation: Option<&str>,
    ) -> Result<(), BackendError> {
        self.inner.store.put_response(id, response.to_string(), conversation).await.map_err(store_error)
    }

    async fn response(&self, id: &str) -> Result<Option<serde_json::Value>, BackendError> {
        let Some(text) = self.inner.store.response(id).await.map_err(store_error)? else { return Ok(None) };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| BackendError::Internal(format!("the stored response `{id}` is not valid JSON: {e}")))
    }

    async fn delete_response(&self, id: &str) -> Result<bool, BackendError> {
        self.inner.store.delete_response(id).await.map_err(store_error)
    }

    async fn conversation_head(&self, name: &str) -> Result<Option<String>, BackendError> {
        self.inner.store.conversation_head(name).await.map_err(store_error)
    }
}

impl Inner {
    /// The agent for the model a client named: a route alias picks its route, anything
    /// else (or nothing) the default.
    fn agent_for(&self, model: Option<&str>) -> Result<Arc<Agent>, BackendError> {
        let slot = model.and_then(|m| self.routes.iter().find(|r| r.alias == m)).map_or(&self.agent, |r| &r.agent);
        slot.clone().map_err(BackendError::Internal)
    }

    async fn turn(
        &self,
        agent: Arc<Agent>,
        request: TurnRequest,
        mut events: EventSink,
        cancel: CancellationToken,
    ) -> Result<TurnOutcome, BackendError> {
        let TurnRequest { session_id, session_key, history, input, ephemeral_system, model: _, title } = request;
        let model = agent.settings().model.clone();

        // The client's history is used as sent and never stored: the client owns it.
        let (history, texts, client_system) = match history {
            History::Stored => {
                let (history, texts) =
                    tokio::join!(stored_history(self.store.as_ref(), &session_id), self.prompt.read());
                (history.map_err(store_error)?, texts, None)
            }
            History::Provided(messages) => {
                let (system, history) = split_system(messages);
                (history, self.prompt.read().await, system)
            }
        };
        let texts = texts.map_err(|e| BackendError::Internal(e.to_string()))?;

        // Cancelled before anything was stored (the client left at once, or the gateway
        // is stopping): nothing happened, so nothing is recorded.
        if cancel.is_cancelled() {
            let status = TurnStatus::Cancelled;
            return Ok(TurnOutcome {
                session_id,
                text: String::new(),
                usage: Usage::default(),
                status,
                model,
                tool_calls: vec![],
            });
        }
        let user = Message::user(input);
        let opened = self
            .store
            .open_turn(
                NewSession {
                    id: Some(session_id.clone()),
                    key: Some(session_key.unwrap_or_else(|| session_id.clone())),
                    platform: Platform::ApiServer.to_string(),
                    title,
                    model: Some(model.clone()),
                    ..NewSession::default()
                },
                vec![NewMessage::from(user.clone())],
            )
            .await
            .map_err(store_error)?;

        let ephemeral = join_system([opened.session.system_prompt, client_system, ephemeral_system]);
        let system = texts.system(&session_context(&session_id), ephemeral.as_deref());

        let mut partial = PartialText::default();
        let mut forward = |event: TurnEvent| {
            partial.observe(&event);
            events(event);
        };
        let input = TurnInput {
            system,
            history,
            user,
            session_id: Some(session_id.clone()),
            steer: None,
            model: None,
            reasoning: None,
        };
        let output = agent.run_turn(input, &mut forward, cancel).await;

        if let Err(error) = record_output(self.store.as_ref(), &session_id, &output).await {
            tracing::error!(session = %session_id, %error, "could not record the turn");
            return Err(store_error(error));
        }
        Ok(outcome(session_id, model, output, partial.text))
    }
}

/// Text of the model call in progress: what a failed call had streamed before it failed.
#[derive(Default)]
struct PartialText {
    text: String,
}

impl PartialText {
    fn observe(&mut self, event: &TurnEvent) {
        match event {
            TurnEvent::TextDelta(delta) => self.text.push_str(delta),
            // A usage event closes a model call whose text is in the turn's messages.
            TurnEvent::Usage(_) => self.text.clear(),
            _ => {}
        }
    }
}

fn outcome(session_id: String, model: String, output: TurnOutput, partial: String) -> TurnOutcome {
    let tool_calls = tool_calls_with_results(&output.messages);
    let (text, status) = match output.result {
        Ok(answer) => {
            let status = if output.finish_reason == Some(FinishReason::Length) {
                TurnStatus::Truncated
            } else {
                TurnStatus::Completed
            };
            (answer, status)
        }
        Err(TurnError::Cancelled) => (partial, TurnStatus::Cancelled),
        Err(TurnError::Provider(error)) => {
            let partial_text = !partial.is_empty();
            (partial, TurnStatus::Failed { error: error.to_string(), partial: partial_text })
        }
    };
    TurnOutcome { session_id, text, usage: output.usage, status, model, tool_calls }
}

/// Each tool call of the turn with the result the model was given for it.
fn tool_calls_with_results(messages: &[Message]) -> Vec<(ToolCall, String)> {
    let result_of = |id: &str| {
        messages
            .iter()
            .find(|m| m.role == Role::Tool && m.tool_call_id.as_deref() == Some(id))
            .map(|m| m.content.clone())
            .unwrap_or_default()
    };
    messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter())
        .map(|call| (call.clone(), result_of(&call.id)))
        .collect()
}

/// Separates system messages (which become system text) from the conversation.
fn split_system(messages: Vec<Message>) -> (Option<String>, Vec<Message>) {
    let (system, history): (Vec<Message>, Vec<Message>) = messages.into_iter().partition(|m| m.role == Role::System);
    (join_system(system.into_iter().map(|m| Some(m.content))), history)
}

/// Joins the non-blank parts with a blank line; `None` when there are none.
fn join_system(parts: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().flatten().filter(|p| !p.trim().is_empty()).collect();
    if parts.is_empty() { None } else { Some(parts.join("\n\n")) }
}

fn session_context(session_id: &str) -> String {
    let now = jiff::Zoned::now();
    format!(
        "Platform: api_server (a program calling herald's OpenAI-compatible API)\nSession id: {session_id}\n\
         Current time: {} ({})",
        now.strftime("%Y-%m-%d %H:%M %A"),
        now.time_zone().iana_name().unwrap_or("local")
    )
}

fn not_found(id: &str) -> BackendError {
    BackendError::NotFound(format!("no session with id `{id}`"))
}

fn store_error(error: StoreError) -> BackendError {
    match error {
        StoreError::SessionNotFound(id) => not_found(&id),
        StoreError::SessionExists(_) => BackendError::Conflict(error.to_string()),
        StoreError::InvalidInput(message) => BackendError::Invalid(message),
        other => {
            tracing::error!(error = %other, "store failure");
            BackendError::Internal(other.to_string())
        }
    }
}

/// Milliseconds to the float seconds Hermes's API uses.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn session_info(s: &SessionRecord) -> SessionInfo {
    SessionInfo {
        id: s.id.clone(),
        source: s.platform.clone(),
        session_key: s.key.clone(),
        title: s.title.clone(),
        model: s.model.clone(),
        system_prompt: s.system_prompt.clone(),
        parent_session_id: s.parent_session_id.clone(),
        started_at: seconds(s.created_at),
        updated_at: seconds(s.updated_at),
        ended_at: s.ended_at.map(seconds),
        end_reason: s.end_reason.clone(),
        message_count: s.message_count,
        tool_call_count: s.tool_call_count,
        input_tokens: s.usage.input_tokens,
        output_tokens: s.usage.output_tokens,
    }
}

fn message_info(m: StoredMessage) -> MessageInfo {
    MessageInfo {
        id: m.id,
        session_id: m.session_id,
        role: m.message.role,
        content: m.message.content,
        tool_call_id: m.message.tool_call_id,
        tool_calls: m.message.tool_calls,
        tool_name: m.message.tool_name,
        timestamp: seconds(m.timestamp),
        token_count: m.token_count,
        finish_reason: m.finish_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_messages_are_split_from_the_history_and_joined() {
        let (system, history) = split_system(vec![
            Message::system("Be brief."),
            Message::user("hi"),
            Message::system("  "),
            Message::assistant("hello"),
            Message::system("Use French."),
        ]);
        assert_eq!(system.as_deref(), Some("Be brief.\n\nUse French."));
        assert_eq!(history, vec![Message::user("hi"), Message::assistant("hello")]);
        assert_eq!(join_system([None, Some(String::new())]), None);
    }

    #[test]
    fn tool_calls_are_paired_with_their_results() {
        let a = ToolCall { id: "a".into(), name: "clock".into(), arguments: "{}".into() };
        let b = ToolCall { id: "b".into(), name: "memory".into(), arguments: "{}".into() };
        let mut asking = Message::assistant("");
        asking.tool_calls = vec![a.clone(), b.clone()];
        let messages =
            vec![asking, Message::tool_result(&b, "saved"), Message::tool_result(&a, "noon"), Message::assistant("ok")];
        assert_eq!(tool_calls_with_results(&messages), vec![(a, "noon".into()), (b, "saved".into())]);
    }

    #[test]
    fn partial_text_keeps_only_the_unfinished_call() {
        let mut partial = PartialText::default();
        partial.observe(&TurnEvent::TextDelta("Let me check.".into()));
        partial.observe(&TurnEvent::Usage(Default::default()));
        partial.observe(&TurnEvent::TextDelta("It is ".into()));
        partial.observe(&TurnEvent::TextDelta("noon".into()));
        assert_eq!(partial.text, "It is noon");
    }
}
