//! Slash commands from chat: parsed, checked against the sender's access tier, then
//! answered here (those that need no conversation) or handed to the session's actor
//! (those that act on it). A command never waits behind a running turn.

use std::sync::Arc;

use herald_core::Inbound;

use super::actor::{Job, Work};
use super::session_commands::{SESSION_COMMANDS, SessionCommand};
use super::{Shared, finish, turn};
use crate::commands::{self, ParsedCommand, access};

/// Herald has no approval gate on tools yet, so nothing ever waits for `/approve`.
pub const NO_APPROVALS: &str = "No pending approval requests.";

/// Handles `inbound` if it is a slash command; `false` when it is an ordinary message.
pub async fn dispatch(shared: &Arc<Shared>, key: &str, inbound_id: i64, inbound: &Inbound) -> bool {
    let Some(command) = commands::parse(&inbound.text, None) else { return false };
    let reply = match answer(shared, inbound, &command).await {
        Answer::Reply(text) => text,
        Answer::Silent => {
            finish(shared, inbound_id, "command").await;
            return true;
        }
        Answer::Session => {
            let session_command = SessionCommand { name: command.name.clone(), args: command.args.clone() };
            shared.send(key, Work::Command(Job::new(inbound_id, inbound.clone()), session_command));
            return true;
        }
    };
    turn::reply_and_finish(shared, inbound, &reply, inbound_id, "command").await;
    true
}

enum Answer {
    Reply(String),
    Silent,
    Session,
}

async fn answer(shared: &Shared, inbound: &Inbound, command: &ParsedCommand) -> Answer {
    let source = &inbound.source;
    if !command.is_known() {
        return Answer::Reply(commands::unknown_command_reply(&command.name));
    }
    if let Err(denial) = access::check(&shared.access, source, &command.name) {
        return Answer::Reply(denial);
    }
    let tier = access::tier(&shared.access, source);
    let platform = &source.platform;
    let text = match command.name.as_str() {
        // Telegram's client sends it when a user opens the bot: a ping, not a request.
        "start" => return Answer::Silent,
        name if SESSION_COMMANDS.contains(&name) => return Answer::Session,
        "help" => commands::help_text(platform, tier.catalog()),
        "commands" => commands::commands_page(&command.args, platform, tier.catalog()),
        "whoami" => whoami(source, &tier),
        "version" => format!("herald {}", env!("CARGO_PKG_VERSION")),
        "approve" | "deny" => NO_APPROVALS.to_string(),
        "sethome" => sethome(shared, inbound).await,
        other => format!(
            "/{other} is not available in herald's chat yet. Type /commands to see what is, or resend without the \
             leading slash to send it as a message."
        ),
    };
    Answer::Reply(text)
}

fn whoami(source: &herald_core::Source, tier: &access::Tier) -> String {
    let scope = access::Scope::of(source.chat_type);
    let mut lines = vec![
        format!("Platform: {}", source.platform.as_str()),
        format!("Scope: {}", scope.as_str()),
        format!("User id: {}", source.user_id.as_deref().unwrap_or("(unknown)")),
        format!("Tier: {}", tier.as_str()),
    ];
    if let Some(allowed) = tier.catalog() {
        let list: Vec<String> = allowed.iter().map(|c| format!("/{c}")).collect();
        lines.push(format!("You can run: {}", list.join(", ")));
    }
    lines.join("\n")
}

/// Remembers this chat as the platform's home (where cron results and restart notices
/// go), in the store so it survives restarts.
async fn sethome(shared: &Shared, inbound: &Inbound) -> String {
    let source = &inbound.source;
    let Some(chat) = source.chat_id.as_deref() else {
        return "This chat has no id to remember.".into();
    };
    let value = match &source.thread_id {
        Some(thread) => format!("{chat}:{thread}"),
        None => chat.to_string(),
    };
    match shared.store.state_put("home_channel", source.platform.as_str(), &value).await {
        Ok(()) => format!("🏠 This chat is now the home channel for {}.", source.platform.as_str()),
        Err(error) => format!("⚠️ Could not set the home channel: {error}"),
    }
}
