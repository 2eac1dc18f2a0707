//! Runs turns over stored conversations.
//!
//! The order of writes is what makes a turn safe to interrupt: the user's message is
//! stored before the model is called, and everything the turn produced is stored in one
//! transaction after it, so a failure at any point leaves a transcript that is complete
//! up to the last finished step and never holds half a tool exchange.

use std::path::PathBuf;
use std::sync::Arc;

use herald_agent::prompt::{PromptParts, load_soul, system_blocks};
use herald_agent::tools::{MemoryFiles, MemoryTarget};
use herald_agent::{Agent, TurnError, TurnEvent, TurnInput};
use herald_core::{Message, Role, Usage};
use herald_store::{NewMessage, SessionRecord, Store, StoreError};
use tokio_util::sync::CancellationToken;

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

/// Everything needed to run turns: the store, the agent, and the home directory that
/// holds the persona and memory files.
pub struct Conversations {
    store: Arc<dyn Store>,
    agent: Arc<Agent>,
    home: PathBuf,
    memory: MemoryFiles,
}

impl Conversations {
    pub fn new(store: Arc<dyn Store>, agent: Arc<Agent>, home: PathBuf, memory: MemoryFiles) -> Self {
        Conversations { store, agent, home, memory }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    /// The conversation so far, as the model should see it.
    async fn history(&self, session_id: &str) -> Result<Vec<Message>, ConversationError> {
        Ok(self
            .store
            .messages(session_id)
            .await?
            .into_iter()
            .map(|m| m.message)
            .filter(|m| m.role != Role::System)
            .collect())
    }

    async fn read_memory(&self, target: MemoryTarget) -> Result<Option<String>, ConversationError> {
        self.memory
            .read(target)
            .await
            .map_err(|source| ConversationError::Read { path: self.memory.dir.display().to_string(), source })
    }

    /// Runs one turn of `session` with the user's `text`. `session_context` describes
    /// where the message came from; it reaches the model as volatile system text.
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
        let history = self.history(&session.id).await?;
        let user = Message::user(text);
        self.store.append_turn(&session.id, vec![NewMessage::from(user.clone())], Usage::default()).await?;

        let soul = load_soul(&self.home).await.map_err(|source| ConversationError::Read {
            path: self.home.join("SOUL.md").display().to_string(),
            source,
        })?;
        let memory = self.read_memory(MemoryTarget::Memory).await?;
        let user_profile = self.read_memory(MemoryTarget::User).await?;
        let system = system_blocks(&PromptParts {
            soul: soul.as_deref(),
            memory: memory.as_deref(),
            user: user_profile.as_deref(),
            session_context: Some(session_context),
            ephemeral: None,
        });

        let output = self
            .agent
            .run_turn(TurnInput { system, history, user, session_id: Some(session.id.clone()) }, on_event, cancel)
            .await;

        let finish = output.finish_reason.as_ref().map(|f| f.as_str().to_string());
        let count = output.messages.len();
        let records: Vec<NewMessage> = output
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, message)| NewMessage {
                message,
                token_count: None,
                // Only the last message carries how the model stopped.
                finish_reason: if i + 1 == count { finish.clone() } else { None },
                platform_message_id: None,
            })
            .collect();
        if !records.is_empty() || output.usage != Usage::default() {
            self.store.append_turn(&session.id, records, output.usage).await?;
        }
        if output.last_prompt_tokens > 0 {
            self.store
                .update_session(
                    &session.id,
                    herald_store::SessionPatch {
                        last_prompt_tokens: Some(output.last_prompt_tokens),
                        ..Default::default()
                    },
                )
                .await?;
        }
        Ok(TurnReport {
            session_id: session.id.clone(),
            result: output.result,
            usage: output.usage,
            recorded: count + 1,
        })
    }
}
