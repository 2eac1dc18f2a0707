//! What the API server and the browser chat need from the gateway.
//!
//! `herald-web` may depend only on this crate, so the gateway's capabilities reach it
//! through the [`Backend`] trait: run a turn, manage sessions, keep stored responses.
//! The gateway implements it over its store and agent; the web crate's tests implement
//! it in memory.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Message, Role, ToolCall, Usage};

/// Something that happened during a turn, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    TextDelta(String),
    ReasoningDelta(String),
    ToolStarted {
        id: String,
        name: String,
        arguments: String,
    },
    ToolCompleted {
        id: String,
        name: String,
        ok: bool,
        result: String,
    },
    /// The usage of one model call.
    Usage(Usage),
}

/// Receives turn events as they happen. Called from the task that runs the turn.
pub type EventSink = Box<dyn FnMut(TurnEvent) + Send + 'static>;

/// Where the conversation's earlier messages come from.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// The messages stored for the session (a client that sent `X-Hermes-Session-Id`).
    Stored,
    /// The messages the client sent with the request; they are not re-stored.
    Provided(Vec<Message>),
}

/// One turn requested through the API.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// The session to run in; created (with this id) if it does not exist.
    pub session_id: String,
    /// A stable long-term scope from `X-Hermes-Session-Key`, kept as the routing key.
    pub session_key: Option<String>,
    pub history: History,
    /// The user's new message.
    pub input: String,
    /// System text for this turn only (the client's system messages, `instructions`).
    pub ephemeral_system: Option<String>,
    /// The model the client asked for; a configured route alias selects another model.
    pub model: Option<String>,
    /// A title for a session created by this turn.
    pub title: Option<String>,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TurnStatus {
    Completed,
    /// The model stopped because it hit its output limit.
    Truncated,
    /// The model or a tool failed; `partial` says whether any text was produced.
    Failed {
        error: String,
        partial: bool,
    },
    /// The turn was cancelled (client disconnect, stop request, shutdown).
    Cancelled,
}

/// The result of a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    /// The session the turn ran in.
    pub session_id: String,
    /// The final answer text (possibly partial when the turn failed or was cancelled).
    pub text: String,
    pub usage: Usage,
    pub status: TurnStatus,
    /// The model that answered.
    pub model: String,
    /// Every tool call of the turn with its result, in order.
    pub tool_calls: Vec<(ToolCall, String)>,
}

/// A session as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    pub source: String,
    pub session_key: Option<String>,
    pub title: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub parent_session_id: Option<String>,
    /// Seconds since the Unix epoch (Hermes uses float seconds).
    pub started_at: f64,
    pub updated_at: f64,
    pub ended_at: Option<f64>,
    pub end_reason: Option<String>,
    pub message_count: u64,
    pub tool_call_count: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A stored message as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageInfo {
    pub id: i64,
    pub session_id: String,
    pub role: Role,
    pub content: String,
    pub tool_call_id: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_name: Option<String>,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    pub token_count: Option<u64>,
    pub finish_reason: Option<String>,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub limit: u32,
    pub offset: u32,
    /// Only sessions from this source (platform value).
    pub source: Option<String>,
    /// Include sessions forked from others.
    pub include_children: bool,
}

/// A page of sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    pub sessions: Vec<SessionInfo>,
    pub has_more: bool,
}

/// A session created through the API.
#[derive(Debug, Clone, Default)]
pub struct NewApiSession {
    pub id: String,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub title: Option<String>,
}

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
}

/// The gateway, as the API server sees it.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The model name the API advertises (`/v1/models`).
    fn model_name(&self) -> String;

    /// Model route aliases: `(alias, model)` pairs the client may name in `model`.
    fn model_routes(&self) -> Vec<(String, String)>;

    /// The gateway's state for `/health/detailed` (the content of `gateway_state.json`).
    fn health(&self) -> serde_json::Value;

    /// Runs one turn and records it. Dropping the returned future cancels the turn;
    /// what it had done by then is still recorded.
    async fn run_turn(&self, request: TurnRequest, events: EventSink) -> Result<TurnOutcome, BackendError>;

    async fn list_sessions(&self, query: SessionQuery) -> Result<SessionPage, BackendError>;
    /// Fails with `Conflict` when the id exists.
    async fn create_session(&self, new: NewApiSession) -> Result<SessionInfo, BackendError>;
    async fn session(&self, id: &str) -> Result<Option<SessionInfo>, BackendError>;
    /// Sets the title and/or ends the session with a reason.
    async fn update_session(
        &self,
        id: &str,
        title: Option<String>,
        end_reason: Option<String>,
    ) -> Result<SessionInfo, BackendError>;
    /// Deletes the session and its messages; `false` when there was none.
    async fn delete_session(&self, id: &str) -> Result<bool, BackendError>;
    async fn session_messages(&self, id: &str) -> Result<Vec<MessageInfo>, BackendError>;
    /// Ends `id` with reason `branched` and creates a child holding a copy of its messages.
    async fn fork_session(&self, id: &str) -> Result<SessionInfo, BackendError>;

    /// Stores a response object (`/v1/responses`) and, if named, moves the
    /// conversation's head to it.
    async fn put_response(
        &self,
        id: &str,
        response: serde_json::Value,
        conversation: Option<&str>,
    ) -> Result<(), BackendError>;
    async fn response(&self, id: &str) -> Result<Option<serde_json::Value>, BackendError>;
    async fn delete_response(&self, id: &str) -> Result<bool, BackendError>;
    /// The latest response id of a named conversation.
    async fn conversation_head(&self, name: &str) -> Result<Option<String>, BackendError>;
}
