//! The slash commands that act on a conversation, run by its actor so they are ordered
//! with its messages and see its running turn: `/stop`, `/new`, `/queue`, `/steer`,
//! `/status`, `/title`, `/usage`.

use herald_store::SessionPatch;

use super::actor::{Actor, Job};
use super::{resolve, turn};

/// A slash command for a session: its canonical name and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCommand {
    pub name: String,
    pub args: String,
}

/// The commands the actor runs; the rest are answered without it.
pub const SESSION_COMMANDS: &[&str] =
    &["stop", "new", "queue", "steer", "status", "title", "usage", "model", "reasoning", "retry", "undo"];

/// Where `/reasoning` levels are kept, per session key.
pub const REASONING_NAMESPACE: &str = "reasoning";

pub const STOPPED: &str = "⚡ Stopped. You can continue this session.";
pub const NOTHING_TO_STOP: &str = "No active task to stop.";
pub const NEW_SESSION: &str = "✨ New session started. The conversation history is cleared.";

fn format_time(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| "?".into())
}

impl Actor {
    /// Runs `command`; `job` is the message that carried it, finished with the reply.
    pub(super) async fn on_command(&mut self, job: Job, command: SessionCommand) {
        let reply = match command.name.as_str() {
            "stop" => {
                if self.interrupt() {
                    STOPPED.to_string()
                } else {
                    NOTHING_TO_STOP.to_string()
                }
            }
            "new" => {
                self.interrupt();
                self.new_session(&job, command.args.trim()).await
            }
            "model" => self.model(command.args.trim()).await,
            "reasoning" => self.reasoning(command.args.trim()).await,
            "retry" | "undo" if self.running_for().is_some() => {
                format!("⏳ The agent is still answering. Wait for it, or /stop it, then /{}.", command.name)
            }
            "retry" => match self.rewind(1).await {
                Ok(Some(text)) => {
                    let mut again = job.clone();
                    again.inbound.text = text;
                    again.inbound.media.clear();
                    self.queue_command(again).await;
                    return;
                }
                Ok(None) => "There is no earlier message to retry.".into(),
                Err(error) => format!("⚠️ Could not retry: {error}"),
            },
            "undo" => {
                let n = match command.args.trim() {
                    "" => 1,
                    raw => match raw.parse::<usize>() {
                        Ok(n) if n >= 1 => n,
                        _ => {
                            let reply =
                                format!("Usage: /undo [N] — N is how many of your turns to remove (got `{raw}`).");
                            turn::reply_and_finish(&self.shared, &job.inbound, &reply, job.inbound_id, "command").await;
                            return;
                        }
                    },
                };
                match self.rewind(n).await {
                    Ok(Some(_)) => format!("↩️ Removed your last {n} turn(s) and the answers to them."),
                    Ok(None) => "There is nothing to undo.".into(),
                    Err(error) => format!("⚠️ Could not undo: {error}"),
                }
            }
            "queue" | "steer" if command.args.trim().is_empty() => format!("Usage: /{} <prompt>", command.name),
            "queue" | "steer" => {
                let mut prompt = job.clone();
                prompt.inbound.text = command.args.trim().to_string();
                if command.name == "queue" {
                    self.queue_command(prompt).await;
                } else {
                    self.steer_command(prompt).await;
                }
                // The prompt's turn finishes the message; nothing else to say.
                return;
            }
            "status" => self.status().await,
            "title" => self.title(command.args.trim()).await,
            "usage" => self.usage().await,
            other => format!("Unknown command `/{other}`."),
        };
        turn::reply_and_finish(&self.shared, &job.inbound, &reply, job.inbound_id, "command").await;
    }

    async fn new_session(&self, job: &Job, name: &str) -> String {
        if let Err(error) = resolve::reset_by_user(&self.shared, &self.key).await {
            return format!("⚠️ Could not start a new session: {error}");
        }
        if name.is_empty() {
            return NEW_SESSION.to_string();
        }
        // A name is the new session's title, so the session is opened now.
        let mut fresh = resolve::new_session(&self.key, &job.inbound);
        fresh.title = Some(name.chars().take(100).collect());
        match self.shared.store.create_session(fresh).await {
            Ok(created) => format!("{NEW_SESSION}\nTitle: {}", created.title.unwrap_or_default()),
            Err(error) => format!("⚠️ Could not start a new session: {error}"),
        }
    }

    /// Removes the last `n` user turns (each with everything after it). Returns the
    /// text of the earliest removed user message, `None` when there are not `n`.
    async fn rewind(&self, n: usize) -> Result<Option<String>, herald_store::StoreError> {
        let Some(session) = self.current_session().await else { return Ok(None) };
        let messages = self.shared.store.messages(&session.id).await?;
        let users: Vec<_> = messages.iter().filter(|m| m.message.role == herald_core::Role::User).collect();
        if users.len() < n {
            return Ok(None);
        }
        let from = users[users.len() - n];
        self.shared.store.rewind_session(&session.id, from.id).await?;
        Ok(Some(from.message.content.clone()))
    }

    async fn model(&self, name: &str) -> String {
        let default = self.shared.conversations.agent().settings().model.clone();
        let session = self.current_session().await;
        let current = session.as_ref().and_then(crate::conversation::session_model);
        if name.is_empty() {
            return match current {
                Some(m) => format!("Model: {m} (this session; the default is {default})"),
                None => format!("Model: {default}"),
            };
        }
        if name.starts_with("--") {
            return format!(
                "`{name}` is not supported: /model changes only this session. Set model.default in config.yaml \
                 (HERALD_MODEL) to change the default."
            );
        }
        let Some(session) = session else {
            return "There is no session yet; send a message first, then choose its model.".into();
        };
        let value = if name == "default" || name == "reset" {
            None
        } else {
            Some(serde_json::json!({ "model": name }).to_string())
        };
        let patch = SessionPatch { model_override: Some(value.clone()), ..SessionPatch::default() };
        match self.shared.store.update_session(&session.id, patch).await {
            Ok(()) if value.is_none() => format!("🤖 Model reset to the default: {default}"),
            Ok(()) => format!("🤖 Model for this session: {name}"),
            Err(error) => format!("⚠️ Could not change the model: {error}"),
        }
    }

    async fn reasoning(&mut self, level: &str) -> String {
        let store = &self.shared.store;
        if level.is_empty() {
            let current = store.state_get(REASONING_NAMESPACE, &self.key).await.ok().flatten();
            return match current {
                Some(l) if !l.is_empty() => format!("Reasoning effort: {l}"),
                _ => {
                    "Reasoning effort: the model's default. Set one with /reasoning none|minimal|low|medium|high|xhigh."
                        .into()
                }
            };
        }
        let lower = level.to_ascii_lowercase();
        let value = if lower == "reset" {
            String::new()
        } else if let Some(effort) = herald_agent::ReasoningEffort::parse(&lower) {
            effort.as_str().to_string()
        } else {
            return format!(
                "Unknown reasoning level `{level}`. Use none, minimal, low, medium, high, xhigh, or reset."
            );
        };
        let stored = store.state_put(REASONING_NAMESPACE, &self.key, &value).await;
        if stored.is_ok() {
            self.reasoning = Some(herald_agent::ReasoningEffort::parse(&value));
        }
        match stored {
            Ok(()) if value.is_empty() => "🧠 Reasoning effort reset to the model's default.".into(),
            Ok(()) => format!("🧠 Reasoning effort for this chat: {value}"),
            Err(error) => format!("⚠️ Could not change the reasoning effort: {error}"),
        }
    }

    async fn current_session(&self) -> Option<herald_store::SessionRecord> {
        self.shared.store.latest_session_for_key(&self.key).await.ok().flatten()
    }

    async fn status(&self) -> String {
        let tz = &self.shared.time_zone;
        let mut lines = vec!["📊 Session status".to_string()];
        match self.current_session().await {
            Some(s) => {
                lines.push(format!("Session: {}", s.id));
                lines.push(format!("Title: {}", s.title.as_deref().unwrap_or("(none)")));
                lines.push(format!(
                    "Created: {} · Last activity: {}",
                    format_time(s.created_at, tz),
                    format_time(s.updated_at, tz)
                ));
                lines.push(format!("Messages: {}", s.message_count));
                lines.push(format!("Context: {} tokens", s.last_prompt_tokens));
                lines.push(format!("Tokens: {} in · {} out", s.usage.input_tokens, s.usage.output_tokens));
            }
            None => lines.push("Session: none yet (the next message starts one)".into()),
        }
        let model = self.shared.conversations.agent().settings().model.clone();
        lines.push(format!("Model: {model}"));
        lines.push(match self.running_for() {
            Some(elapsed) => format!("Agent: running ({} s)", elapsed.as_secs()),
            None => "Agent: idle".into(),
        });
        lines.push(format!("Queued follow-ups: {}", self.queued()));
        let mut platforms = self.shared.platforms();
        platforms.sort();
        lines.push(format!("Platforms: {}", platforms.join(", ")));
        lines.join("\n")
    }

    async fn title(&self, name: &str) -> String {
        let Some(session) = self.current_session().await else {
            return "There is no session yet; send a message first.".into();
        };
        if name.is_empty() {
            return match session.title {
                Some(t) => format!("Title: {t}"),
                None => "This session has no title. Set one with /title <name>.".into(),
            };
        }
        let title: String = name.chars().take(100).collect();
        let patch = SessionPatch { title: Some(Some(title.clone())), ..SessionPatch::default() };
        match self.shared.store.update_session(&session.id, patch).await {
            Ok(()) => format!("✏️ Title set: {title}"),
            Err(error) => format!("⚠️ Could not set the title: {error}"),
        }
    }

    async fn usage(&self) -> String {
        let Some(s) = self.current_session().await else {
            return "No usage yet: this conversation has no session.".into();
        };
        let u = s.usage;
        format!(
            "📈 Usage of this session\nInput tokens: {}\nOutput tokens: {}\nCache read: {} · Cache write: {}\nTotal: {}",
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermes_texts() {
        assert_eq!(STOPPED, "⚡ Stopped. You can continue this session.");
        assert_eq!(NOTHING_TO_STOP, "No active task to stop.");
    }

    #[test]
    fn times_are_shown_in_the_zone() {
        let ms = "2026-12-01T10:05:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(format_time(ms, &jiff::tz::TimeZone::UTC), "2026-12-01 10:05");
    }
}
