//! `herald sessions`: list, show and search stored conversations.

use std::process::ExitCode;

use anyhow::{Context, bail};
use herald_core::{Role, is_path_unsafe};
use herald_store::{SearchMode, SearchQuery, SessionListQuery};

use crate::cli::{SearchModeArg, SessionsCommand};
use crate::home::Home;
use crate::wiring;

fn local_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => "?".into(),
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max { flat } else { format!("{}…", flat.chars().take(max - 1).collect::<String>()) }
}

pub async fn run(home: &Home, cmd: SessionsCommand) -> anyhow::Result<ExitCode> {
    let store = wiring::open_store(home).await?;
    match cmd {
        SessionsCommand::List { limit, platform } => {
            let sessions = store
                .list_sessions(SessionListQuery { limit, platform, ..SessionListQuery::default() })
                .await?
                .sessions;
            if sessions.is_empty() {
                eprintln!("No conversations yet. Start one with `herald chat`.");
                return Ok(ExitCode::SUCCESS);
            }
            println!("{:<25} {:<16} {:<10} {:>5} {:>8}  TITLE", "ID", "UPDATED", "PLATFORM", "MSGS", "TOKENS");
            for s in sessions {
                let state = if s.end_reason.is_some() { " (ended)" } else { "" };
                println!(
                    "{:<25} {:<16} {:<10} {:>5} {:>8}  {}{state}",
                    s.id,
                    local_time(s.updated_at),
                    s.platform,
                    s.message_count,
                    s.usage.total(),
                    s.title.as_deref().unwrap_or("-")
                );
            }
        }
        SessionsCommand::Show { id } => {
            if is_path_unsafe(&id) {
                bail!("`{id}` is not a session id; `herald sessions list` shows the ids");
            }
            let session = store
                .session(&id)
                .await?
                .with_context(|| format!("no session with id `{id}`; `herald sessions list` shows the ids"))?;
            println!("session {}  ·  {}  ·  started {}", session.id, session.platform, local_time(session.created_at));
            println!(
                "{} messages, {} tool calls, {} input / {} output tokens{}",
                session.message_count,
                session.tool_call_count,
                session.usage.input_tokens,
                session.usage.output_tokens,
                session.end_reason.as_deref().map(|r| format!(", ended ({r})")).unwrap_or_default()
            );
            for m in store.messages(&id).await? {
                let msg = &m.message;
                let when = local_time(m.timestamp);
                match msg.role {
                    Role::Tool => println!(
                        "\n[{when}] tool {}: {}",
                        msg.tool_name.as_deref().unwrap_or("?"),
                        one_line(&msg.content, 300)
                    ),
                    role => {
                        println!("\n[{when}] {}:", role.as_str());
                        if !msg.content.is_empty() {
                            println!("{}", msg.content);
                        }
                        for c in &msg.tool_calls {
                            println!("  → {}({})", c.name, one_line(&c.arguments, 200));
                        }
                    }
                }
            }
        }
        SessionsCommand::Search { text, limit, mode } => {
            let mode = match mode {
                SearchModeArg::Auto => SearchMode::Auto,
                SearchModeArg::Words => SearchMode::Words,
                SearchModeArg::Substring => SearchMode::Substring,
            };
            let hits = store.search(SearchQuery { text: text.clone(), mode, limit, session_id: None }).await?;
            if hits.is_empty() {
                eprintln!("No messages match `{text}`.");
                return Ok(ExitCode::FAILURE);
            }
            for h in hits {
                println!(
                    "{}  {}  {:<9}  {}",
                    h.session_id,
                    local_time(h.timestamp),
                    h.role.as_str(),
                    one_line(&h.snippet, 160)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
