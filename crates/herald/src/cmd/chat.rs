//! `herald chat`: a conversation from the terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use herald_agent::{TurnError, TurnEvent};
use herald_core::config::Config;
use herald_core::{Platform, is_path_unsafe};
use herald_gateway::Conversations;
use herald_store::{NewSession, SessionRecord};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::cli::ChatArgs;
use crate::home::Home;
use crate::wiring;

/// Terminal conversations share one routing key, so `--continue` finds the latest.
const LOCAL_KEY: &str = "agent:main:local:dm";

async fn open_session(conv: &Conversations, args: &ChatArgs) -> anyhow::Result<SessionRecord> {
    let store = conv.store();
    if let Some(id) = &args.resume {
        if is_path_unsafe(id) {
            bail!("`{id}` is not a session id; `herald sessions list` shows the ids");
        }
        return store
            .session(id)
            .await?
            .with_context(|| format!("no session with id `{id}`; `herald sessions list` shows the ids"));
    }
    if args.continue_last
        && let Some(s) = store.latest_session_for_key(LOCAL_KEY).await?
    {
        return Ok(s);
    }
    new_session(conv).await
}

async fn new_session(conv: &Conversations) -> anyhow::Result<SessionRecord> {
    Ok(conv
        .store()
        .create_session(NewSession {
            key: Some(LOCAL_KEY.into()),
            platform: Platform::Local.to_string(),
            chat_type: Some("dm".into()),
            model: Some(conv.agent().settings().model.clone()),
            ..Default::default()
        })
        .await?)
}

fn session_context(session: &SessionRecord) -> String {
    let now = jiff::Zoned::now();
    format!(
        "Platform: local terminal (herald chat)\nSession id: {}\nCurrent time: {} ({})",
        session.id,
        now.strftime("%Y-%m-%d %H:%M %A"),
        now.time_zone().iana_name().unwrap_or("local")
    )
}

/// Runs one turn, streaming the answer to stdout and tool progress to stderr (when
/// `progress`). Returns false when the turn failed.
async fn turn(
    conv: &Conversations,
    session: &SessionRecord,
    text: &str,
    progress: bool,
    cancel: CancellationToken,
) -> anyhow::Result<bool> {
    let mut stdout = std::io::stdout();
    let mut wrote_text = false;
    let mut on_event = |event: TurnEvent| match event {
        TurnEvent::TextDelta(t) => {
            wrote_text = true;
            let _ = stdout.write_all(t.as_bytes());
            let _ = stdout.flush();
        }
        TurnEvent::ToolStarted { name, .. } if progress => eprintln!("\n  ⚙ {name}…"),
        TurnEvent::ToolCompleted { name, ok: false, result, .. } if progress => eprintln!("  ✗ {name}: {result}"),
        _ => {}
    };
    let report = conv.run_turn(session, text, &session_context(session), &mut on_event, cancel).await?;
    match report.result {
        Ok(answer) => {
            // A non-streaming provider delivers the answer only at the end.
            if !wrote_text {
                print!("{answer}");
            }
            println!();
            Ok(true)
        }
        Err(TurnError::Cancelled) => {
            println!();
            eprintln!("(stopped)");
            Ok(false)
        }
        Err(e) => {
            if wrote_text {
                println!();
            }
            eprintln!("error: {e}");
            eprintln!("(the conversation is saved; send the message again to retry)");
            Ok(false)
        }
    }
}

const HELP: &str = "Commands: /new starts a new conversation, /session shows its id, /exit leaves (or Ctrl-D). Ctrl-C stops an answer.";

pub async fn run(home: &Home, config: &Config, args: ChatArgs) -> anyhow::Result<ExitCode> {
    let conv = wiring::conversations(home, config).await?;
    let mut session = open_session(&conv, &args).await?;

    if let Some(q) = &args.query {
        let ok = turn(&conv, &session, q, false, CancellationToken::new()).await?;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }

    let interactive = std::io::stdin().is_terminal();
    eprintln!("herald chat · session {} · model {} · {HELP}", session.id, conv.agent().settings().model);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut failures = 0u32;
    loop {
        if interactive {
            eprint!("› ");
        }
        let line = tokio::select! {
            line = lines.next_line() => line.context("cannot read standard input")?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else { break };
        let text = line.trim();
        match text {
            "" => continue,
            "/exit" | "/quit" => break,
            "/help" => eprintln!("{HELP}"),
            "/session" => eprintln!("session {}", session.id),
            "/new" | "/reset" => {
                session = new_session(&conv).await?;
                eprintln!("new conversation · session {}", session.id);
            }
            _ => {
                let cancel = CancellationToken::new();
                let stopper = cancel.clone();
                let watcher = tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        stopper.cancel();
                    }
                });
                let ok = turn(&conv, &session, text, true, cancel).await?;
                watcher.abort();
                failures += u32::from(!ok);
            }
        }
    }
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
