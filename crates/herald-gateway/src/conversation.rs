//! Runs turns over stored conversations.
//!
//! The order of writes is what makes a turn safe to interrupt: the user's message is
//! stored before the model is called, and everything the turn produced is stored in one
//! transaction after it, so a failure at any point leaves a transcript that is complete
//! up to the last finished step and never holds half a tool exchange.

use std::path::PathBuf;
use std::sync::Arc;

use herald_agent::tools::MemoryFiles;
use herald_agent::{Agent, ReasoningEffort, Steering, TurnError, TurnEvent, TurnInput, TurnOutput};
use herald_core::{Message, Role, Usage};
use herald_store::{NewMessage, NewSession, SessionRecord, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::prompt::PromptFiles;

/// Why a turn could not be run or recorded. A model failure is not one of these: it is
/// reported in [`TurnReport::result`] with the transcript intact.
#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the message is empty")]
    EmptyMessage,
}

/// The outcome of one turn.
#[derive(Debug)]
pub struct TurnReport {
    pub session_id: String,
    pub result: Result<String, TurnError>,
    pub usage: Usage,
    /// Messages recorded by this turn, the user's included.
    pub recorded: usize,
}

/// Everything needed to run turns: the store, the agent, and the persona and memory
/// files.
pub struct Conversations {
    store: Arc<dyn Store>,
    agent: Arc<Agent>,
    prompt: PromptFiles,
}

impl Conversations {
    pub fn new(store: Arc<dyn Store>, agent: Arc<Agent>, home: PathBuf, memory: MemoryFiles) -> Self {
        Conversations { store, agent, prompt: PromptFiles::new(home, memory) }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    pub fn prompt(&self) -> &PromptFiles {
        &self.prompt
    }

    /// Runs one turn of `session` with the user's `text`. `session_context` describes
    /// where the message came from; it reaches the model as volatile system text.
    ///
    /// Two writes: the user's message before the model is called, everything the turn
    /// produced (with its usage and context fill) after.
    pub async fn run_turn(
        &self,
        session: &SessionRecord,
        text: &str,
        session_context: &str,
        on_event: &mut (dyn FnMut(TurnEvent) + Send),
        cancel: CancellationToken,
    ) -> Result<TurnReport, ConversationError> {
        if text.trim().is_empty() {
            return Err(ConversationError::EmptyMessage);
        }
        let (history, texts) = tokio::join!(stored_history(self.store.as_ref(), &session.id), self.prompt.read());
        let (history, texts) = (history?, texts?);
        let user = Message::user(text);
        self.store.append_turn(&session.id, vec![NewMessage::from(user.clone())], Usage::default(), None).await?;

        let system = texts.system(session_context, None);
        let output = self
            .agent
            .run_turn(
                TurnInput {
                    system,
                    history,
                    user,
                    session_id: Some(session.id.clone()),
                    steer: None,
                    model: None,
                    reasoning: None,
                },
                on_event,
                cancel,
            )
            .await;

        let recorded = record_output(self.store.as_ref(), &session.id, &output).await?;
        Ok(TurnReport {
            session_id: session.id.clone(),
            result: output.result,
            usage: output.usage,
            recorded: recorded + 1,
        })
    }
}

/// A turn for a message from a chat platform, as the runner starts it.
pub struct InboundTurn<'a> {
    /// The session to use, created with these fields if it does not exist yet.
    pub session: NewSession,
    /// The inbound log row the message came in as.
    pub inbound_id: i64,
    pub text: &'a str,
    /// Where the message came from, and notes such as an automatic reset.
    pub context: &'a str,
    /// The turn was interrupted by a restart: the user's message is already in the
    /// transcript and is not appended again.
    pub resume: bool,
    pub steer: Option<Steering>,
    /// The session's `/reasoning` level, if one was set.
    pub reasoning: Option<ReasoningEffort>,
    /// Cancelled when the gateway shuts down: a turn stopped by it records nothing,
    /// so the restart runs it again from the user's message.
    pub shutdown: CancellationToken,
}

/// What an inbound turn did.
#[derive(Debug)]
pub struct InboundTurnReport {
    pub session: SessionRecord,
    pub result: Result<String, TurnError>,
    pub usage: Usage,
    /// The answer came from the transcript: a resumed turn had already been answered
    /// and recorded when the process stopped, so only its delivery was missing.
    pub from_transcript: bool,
}

impl Conversations {
    /// Runs a turn for an inbound message. The user's message enters the transcript in
    /// the same write that marks the inbound row started (so a crash can neither lose
    /// it nor append it twice); the turn's output is recorded in one write after it.
    pub async fn run_inbound_turn(
        &self,
        turn: InboundTurn<'_>,
        on_event: &mut (dyn FnMut(TurnEvent) + Send),
        cancel: CancellationToken,
    ) -> Result<InboundTurnReport, ConversationError> {
        let Some(session_id) = turn.session.id.clone() else {
            return Err(ConversationError::Store(StoreError::InvalidInput(
                "an inbound turn needs its session id".into(),
            )));
        };
        let (history, texts) = tokio::join!(stored_history(self.store.as_ref(), &session_id), self.prompt.read());
        let (mut history, texts) = (history?, texts?);
        let (session, user) = if turn.resume {
            self.store.start_inbound(turn.inbound_id, &session_id).await?;
            let session = self
                .store
                .session(&session_id)
                .await?
                .ok_or_else(|| StoreError::SessionNotFound(session_id.clone()))?;
            match history.last() {
                Some(last) if last.role == Role::Assistant && last.tool_calls.is_empty() => {
                    let answer = last.content.clone();
                    return Ok(InboundTurnReport {
                        session,
                        result: Ok(answer),
                        usage: Usage::default(),
                        from_transcript: true,
                    });
                }
                Some(last) if last.role == Role::User => {
                    let user = history.pop().unwrap_or_else(|| Message::user(turn.text));
                    (session, user)
                }
                // Whatever else is there (nothing, or a tool exchange cut short), the
                // message is asked again so the model sees it last.
                _ => (session, Message::user(turn.text)),
            }
        } else {
            if turn.text.trim().is_empty() {
                return Err(ConversationError::EmptyMessage);
            }
            let user = Message::user(turn.text);
            let opened = self
                .store
                .open_inbound_turn(turn.inbound_id, turn.session, vec![NewMessage::from(user.clone())])
                .await?;
            (opened.session, user)
        };

        let system = texts.system(turn.context, None);
        let input = TurnInput {
            system,
            history,
            user,
            session_id: Some(session_id.clone()),
            steer: turn.steer,
            model: session_model(&session),
            reasoning: turn.reasoning,
        };
        let output = self.agent.run_turn(input, on_event, cancel).await;
        let stopped_by_shutdown = matches!(output.result, Err(TurnError::Cancelled)) && turn.shutdown.is_cancelled();
        if !stopped_by_shutdown {
            record_output(self.store.as_ref(), &session_id, &output).await?;
        }
        Ok(InboundTurnReport { session, result: output.result, usage: output.usage, from_transcript: false })
    }
}

/// The model a session's `/model` chose (its `model_override`), if any.
pub fn session_model(session: &SessionRecord) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(session.model_override.as_deref()?).ok()?;
    value.get("model")?.as_str().map(str::to_string).filter(|m| !m.is_empty())
}

/// The stored conversation, as the model should see it; a session that does not exist
/// yet has none.
pub(crate) async fn stored_history(store: &dyn Store, session_id: &str) -> Result<Vec<Message>, StoreError> {
    match store.messages(session_id).await {
        Ok(messages) => Ok(messages.into_iter().map(|m| m.message).filter(|m| m.role != Role::System).collect()),
        Err(StoreError::SessionNotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Records what a turn produced, its usage and its context fill, in one write (none
/// when the turn produced nothing). Returns how many messages were recorded.
pub(crate) async fn record_output(
    store: &dyn Store,
    session_id: &str,
    output: &TurnOutput,
) -> Result<usize, StoreError> {
    let finish = output.finish_reason.as_ref().map(|f| f.as_str().to_string());
    let count = output.messages.len();
    let records: Vec<NewMessage> = output
        .messages
        .iter()
        .enumerate()
        .map(|(i, message)| NewMessage {
            message: message.clone(),
            token_count: None,
            // Only the last message carries how the model stopped.
            finish_reason: if i + 1 == count { finish.clone() } else { None },
            platform_message_id: None,
        })
        .collect();
    let fill = (output.last_prompt_tokens > 0).then_some(output.last_prompt_tokens);
    if !records.is_empty() || output.usage != Usage::default() || fill.is_some() {
        store.append_turn(session_id, records, output.usage, fill).await?;
    }
    Ok(count)
}
