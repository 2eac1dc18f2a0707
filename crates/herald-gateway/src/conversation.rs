//! Runs turns over stored conversations.
//!
//! The order of writes is what makes a turn safe to interrupt: the user's message is
//! stored before the model is called, and everything the turn produced is stored in one
//! transaction after it, so a failure at any point leaves a transcript that is complete
//! up to the last finished step and never holds half a tool exchange.

use std::path::PathBuf;
use std::sync::Arc;

use herald_agent::tools::MemoryFiles;
use herald_agent::{Agent, TurnError, TurnEvent, TurnInput, TurnOutput};
use herald_core::{Message, Role, Usage};
use herald_store::{NewMessage, SessionRecord, Store, StoreError};
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
                TurnInput { system, history, user, session_id: Some(session.id.clone()), steer: None },
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
