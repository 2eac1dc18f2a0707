//! One turn of the agent: the model answers, calls tools, sees their results, and
//! answers again, until it gives a final answer or the iteration cap is reached.

use std::sync::Arc;

use futures::future::join_all;
use herald_core::{FinishReason, Message, ToolCall, Usage};
use tokio_util::sync::CancellationToken;

use crate::provider::{ChatRequest, Provider, ProviderError, StreamDelta, SystemBlock, ThinkingReplay};

pub use crate::provider::ReasoningEffort;
use crate::tools::{ToolContext, ToolRegistry};

pub use herald_core::backend::TurnEvent;

/// Why a turn ended without a final answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the turn was stopped")]
    Cancelled,
}

/// Model settings for turns.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub model: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub stream: bool,
    /// Most model calls in one turn.
    pub max_iterations: u32,
}

/// What a turn is given.
#[derive(Debug, Clone)]
pub struct TurnInput {
    pub system: Vec<SystemBlock>,
    /// Earlier messages of the conversation, oldest first.
    pub history: Vec<Message>,
    /// The new user message.
    pub user: Message,
    pub session_id: Option<String>,
    /// Messages the user sent while this turn runs, handed to the model after the next
    /// tool call (Hermes's `steer` busy mode).
    pub steer: Option<Steering>,
    /// The model for this turn instead of [`AgentSettings::model`] (the gateway's
    /// `/model`).
    pub model: Option<String>,
    /// How hard the model thinks this turn (the gateway's `/reasoning`); `None` sends
    /// no reasoning setting and the provider's default applies.
    pub reasoning: Option<ReasoningEffort>,
}

/// Text the user sent to a running turn. The gateway pushes; the turn takes everything
/// pushed so far after each round of tool calls and appends it to the last tool result,
/// the one place every provider accepts extra user words mid-turn. What the turn never
/// took (it ended without another tool call) is left for the gateway to run next.
#[derive(Debug, Clone, Default)]
pub struct Steering {
    inner: Arc<std::sync::Mutex<SteeringState>>,
}

#[derive(Debug, Default)]
struct SteeringState {
    pending: Vec<(u64, String)>,
    taken: Vec<u64>,
    closed: bool,
}

impl Steering {
    /// Adds `text` under the caller's `tag`. Refused (returns `false`) once the turn
    /// has closed the steering, so nothing is pushed where no one will take it.
    pub fn push(&self, tag: u64, text: impl Into<String>) -> bool {
        let mut state = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.closed {
            return false;
        }
        state.pending.push((tag, text.into()));
        true
    }

    fn take(&self) -> Vec<String> {
        let mut state = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = std::mem::take(&mut state.pending);
        pending
            .into_iter()
            .map(|(tag, text)| {
                state.taken.push(tag);
                text
            })
            .collect()
    }

    /// Ends steering: returns the tags the turn took and what it never took.
    pub fn close(&self) -> (Vec<u64>, Vec<(u64, String)>) {
        let mut state = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.closed = true;
        (std::mem::take(&mut state.taken), std::mem::take(&mut state.pending))
    }
}

/// What a turn produced. `messages` holds every complete message after the user's
/// (assistant answers, tool calls and tool results), even when the turn failed, so the
/// caller can record exactly what happened.
#[derive(Debug, Clone)]
pub struct TurnOutput {
    pub messages: Vec<Message>,
    pub usage: Usage,
    /// Input tokens of the last model call: how full the context is.
    pub last_prompt_tokens: u64,
    pub model_calls: u32,
    pub finish_reason: Option<FinishReason>,
    /// The final answer, or why there is none.
    pub result: Result<String, TurnError>,
}

/// Shown to the model when it has used every iteration, so it answers with what it has.
const ITERATION_LIMIT_NOTE: &str = "You have reached the maximum number of tool-calling steps for this turn. Do not call tools; answer now with what you have.";

/// The agent: a provider, tools, and settings.
pub struct Agent {
    provider: Arc<dyn Provider>,
    tools: ToolRegistry,
    settings: AgentSettings,
}

impl Agent {
    pub fn new(provider: Arc<dyn Provider>, tools: ToolRegistry, settings: AgentSettings) -> Self {
        Agent { provider, tools, settings }
    }

    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// Runs one turn. Events go to `on_event` as they happen. Cancelling `cancel` ends the
    /// turn promptly with [`TurnError::Cancelled`]; text streamed so far is kept as the
    /// assistant's (partial) answer.
    pub async fn run_turn(
        &self,
        input: TurnInput,
        on_event: &mut (dyn FnMut(TurnEvent) + Send),
        cancel: CancellationToken,
    ) -> TurnOutput {
        let mut out = TurnOutput {
            messages: Vec::new(),
            usage: Usage::default(),
            last_prompt_tokens: 0,
            model_calls: 0,
            finish_reason: None,
            result: Err(TurnError::Cancelled),
        };
        let mut conversation = input.history;
        conversation.push(input.user);
        let ctx = ToolContext { session_id: input.session_id.clone(), cancel: cancel.clone() };
        let model = input.model.clone().unwrap_or_else(|| self.settings.model.clone());
        // Thinking blocks of this turn's assistant messages, by their place in
        // `conversation`, sent back on every later call (see `ChatRequest::thinking`).
        let mut thinking = Vec::new();

        loop {
            let last_call = out.model_calls + 1 >= self.settings.max_iterations;
            let mut system = input.system.clone();
            if last_call && out.model_calls > 0 {
                system.push(SystemBlock { text: ITERATION_LIMIT_NOTE.into(), cache: false });
            }
            let request = ChatRequest {
                model: model.clone(),
                system,
                messages: conversation.clone(),
                tools: if last_call { Vec::new() } else { self.tools.specs() },
                max_tokens: self.settings.max_tokens,
                temperature: self.settings.temperature,
                reasoning: input.reasoning,
                thinking: thinking.clone(),
            };
            let mut streamed = String::new();
            let call = async {
                let mut forward = |delta: StreamDelta| match delta {
                    StreamDelta::Text(t) => {
                        streamed.push_str(&t);
                        on_event(TurnEvent::TextDelta(t));
                    }
                    StreamDelta::Reasoning(t) => on_event(TurnEvent::ReasoningDelta(t)),
                    StreamDelta::ToolCallStarted { .. } => {}
                };
                self.provider.complete(&request, self.settings.stream, &mut forward).await
            };
            let completion = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    if !streamed.is_empty() {
                        out.messages.push(Message::assistant(streamed));
                    }
                    out.result = Err(TurnError::Cancelled);
                    return out;
                }
                r = call => r,
            };
            out.model_calls += 1;
            let completion = match completion {
                Ok(c) => c,
                Err(e) => {
                    out.result = Err(TurnError::Provider(e));
                    return out;
                }
            };
            out.usage += completion.usage;
            out.last_prompt_tokens = completion.usage.input_tokens;
            on_event(TurnEvent::Usage(completion.usage));
            out.finish_reason = Some(completion.finish_reason.clone());

            let mut assistant = Message::assistant(completion.content.clone());
            assistant.tool_calls = completion.tool_calls.clone();
            if !completion.thinking.is_empty() {
                thinking.push(ThinkingReplay { message: conversation.len(), blocks: completion.thinking.clone() });
            }
            conversation.push(assistant.clone());
            out.messages.push(assistant);

            if completion.tool_calls.is_empty() {
                out.result = Ok(completion.content);
                return out;
            }

            let results = tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                r = self.run_tools(&completion.tool_calls, &ctx, on_event) => Some(r),
            };
            let Some(results) = results else {
                // Every call must have an answer or the provider rejects the history.
                for call in &completion.tool_calls {
                    out.messages
                        .push(Message::tool_result(call, "error: the turn was stopped before this tool finished"));
                }
                out.result = Err(TurnError::Cancelled);
                return out;
            };
            let mut results = results;
            if let (Some(steer), Some(last)) = (&input.steer, results.last_mut()) {
                for text in steer.take() {
                    last.content.push_str(&format!("\n\n[The user sent this while you were working: {text}]"));
                }
            }
            for message in results {
                conversation.push(message.clone());
                out.messages.push(message);
            }
        }
    }

    /// Runs the calls of one model answer: all at once when every tool allows it,
    /// otherwise one after another. Results come back in call order.
    async fn run_tools(
        &self,
        calls: &[ToolCall],
        ctx: &ToolContext,
        on_event: &mut (dyn FnMut(TurnEvent) + Send),
    ) -> Vec<Message> {
        for call in calls {
            on_event(TurnEvent::ToolStarted {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            });
        }
        let parallel =
            calls.len() > 1 && calls.iter().all(|c| self.tools.get(&c.name).is_some_and(|t| t.parallel_safe()));
        let results: Vec<(bool, String)> = if parallel {
            join_all(calls.iter().map(|c| self.run_one(c, ctx))).await
        } else {
            let mut v = Vec::with_capacity(calls.len());
            for c in calls {
                v.push(self.run_one(c, ctx).await);
            }
            v
        };
        calls
            .iter()
            .zip(results)
            .map(|(call, (ok, text))| {
                on_event(TurnEvent::ToolCompleted {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    ok,
                    result: text.clone(),
                });
                Message::tool_result(call, text)
            })
            .collect()
    }

    async fn run_one(&self, call: &ToolCall, ctx: &ToolContext) -> (bool, String) {
        let Some(tool) = self.tools.get(&call.name) else {
            let known = self.tools.names().join(", ");
            return (false, format!("error: there is no tool named `{}`; available tools: {known}", call.name));
        };
        let args = if call.arguments.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            match serde_json::from_str::<serde_json::Value>(&call.arguments) {
                Ok(v) => v,
                Err(e) => return (false, format!("error: the arguments are not valid JSON ({e}); send a JSON object")),
            }
        };
        match tool.call(args, ctx).await {
            Ok(text) => (true, text),
            Err(e) => {
                tracing::debug!(tool = %call.name, error = %e, "tool call failed");
                (false, format!("error: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
