//! Slash commands and admission through the runner, against the scripted LLM and a
//! real store.

mod runner_common;

use std::time::Duration;

use herald_core::InboundSink;
use herald_gateway::commands::unknown_command_reply;
use herald_store::{InboundState, SessionListQuery};
use herald_testkit::llm::Reply;
use runner_common::*;

#[tokio::test]
async fn stop_interrupts_a_long_turn_and_keeps_the_session() {
    let f = fixture("").await;
    f.runner.deliver(dm("1", "0", "/stop")).await.unwrap();
    until("nothing to stop", || f.recorder.said().len() == 1).await;
    assert_eq!(f.recorder.texts()[0], "No active task to stop.");

    f.llm.push(Reply::text("never finishes").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("1", "1", "a long task")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.runner.deliver(dm("1", "2", "/stop")).await.unwrap();
    until("stopped and the stopped turn", || f.recorder.said().len() == 3).await;
    let texts = f.recorder.texts();
    assert!(texts.contains(&"⚡ Stopped. You can continue this session.".to_string()), "{texts:?}");
    let first = f.store.latest_session_for_key("agent:main:telegram:dm:1").await.unwrap().unwrap();

    f.llm.push(Reply::text("continuing"));
    f.runner.deliver(dm("1", "3", "go on")).await.unwrap();
    until("the next answer", || f.recorder.said().len() == 4).await;
    let same = f.store.latest_session_for_key("agent:main:telegram:dm:1").await.unwrap().unwrap();
    assert_eq!(same.id, first.id, "/stop keeps the session");
    assert!(f.store.pending_inbound("telegram").await.unwrap().is_empty());
}

#[tokio::test]
async fn new_starts_a_fresh_session_with_an_optional_title() {
    let f = fixture("").await;
    f.runner.deliver(dm("2", "1", "remember 7")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    let old = f.store.latest_session_for_key("agent:main:telegram:dm:2").await.unwrap().unwrap();
    f.runner.deliver(dm("2", "2", "/reset Holiday plans")).await.unwrap();
    until("reply", || f.recorder.said().len() == 2).await;
    assert_eq!(
        f.recorder.texts()[1],
        "✨ New session started. The conversation history is cleared.\nTitle: Holiday plans"
    );
    let ended = f.store.session(&old.id).await.unwrap().unwrap();
    assert_eq!(ended.end_reason.as_deref(), Some("new_session"));
    f.runner.deliver(dm("2", "3", "what number?")).await.unwrap();
    until("answer", || f.recorder.said().len() == 3).await;
    let new = f.store.latest_session_for_key("agent:main:telegram:dm:2").await.unwrap().unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(new.title.as_deref(), Some("Holiday plans"));
    let last = f.llm.last_request().unwrap();
    assert!(!last.messages().iter().any(|m| m["content"] == "remember 7"));
}

#[tokio::test]
async fn queue_and_steer_need_a_prompt_and_queue_runs_it() {
    let f = fixture("").await;
    f.runner.deliver(dm("3", "1", "/queue")).await.unwrap();
    f.runner.deliver(dm("3", "2", "/steer   ")).await.unwrap();
    until("two usages", || f.recorder.said().len() == 2).await;
    let mut texts = f.recorder.texts();
    texts.sort();
    assert_eq!(texts, ["Usage: /queue <prompt>", "Usage: /steer <prompt>"]);
    f.llm.push(Reply::text("queued answer"));
    f.runner.deliver(dm("3", "3", "/q do the thing")).await.unwrap();
    until("answer", || f.recorder.said().len() == 3).await;
    assert_eq!(f.recorder.texts()[2], "queued answer");
    assert_eq!(f.llm.last_request().unwrap().last_user_text().as_deref(), Some("do the thing"));
}

#[tokio::test]
async fn status_title_usage_and_info_commands_answer() {
    let f = fixture("").await;
    f.llm.push(Reply::text("hi").with_usage(120, 30));
    f.runner.deliver(dm("4", "1", "hello")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    for (id, text) in [("2", "/title Trip"), ("3", "/status"), ("4", "/usage"), ("5", "/whoami"), ("6", "/version")] {
        f.runner.deliver(dm("4", id, text)).await.unwrap();
        let n = f.recorder.said().len();
        until(text, || f.recorder.said().len() == n + 1).await;
    }
    let texts = f.recorder.texts();
    assert_eq!(texts[1], "✏️ Title set: Trip");
    assert!(texts[2].starts_with("📊 Session status\nSession: "), "{}", texts[2]);
    assert!(
        texts[2].contains("Title: Trip")
            && texts[2].contains("Agent: idle")
            && texts[2].contains("Platforms: telegram")
    );
    assert!(texts[2].contains("Tokens: 120 in · 30 out"), "{}", texts[2]);
    assert!(texts[3].contains("Input tokens: 120") && texts[3].contains("Total: 150"), "{}", texts[3]);
    assert_eq!(texts[4], "Platform: telegram\nScope: dm\nUser id: 4\nTier: unrestricted");
    assert_eq!(texts[5], format!("herald {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(f.llm.request_count(), 1, "commands never reach the model");
}

#[tokio::test]
async fn unknown_commands_get_hermes_reply_and_start_is_silent() {
    let f = fixture("").await;
    f.runner.deliver(dm("5", "1", "/frobnicate now")).await.unwrap();
    until("reply", || f.recorder.said().len() == 1).await;
    assert_eq!(f.recorder.texts()[0], unknown_command_reply("frobnicate"));
    assert!(f.recorder.texts()[0].starts_with("Unknown command `/frobnicate`."));
    f.runner.deliver(dm("5", "2", "/start")).await.unwrap();
    until("start finished", || {
        // Finished without a reply.
        nothing_pending(&f)
    })
    .await;
    assert_eq!(f.recorder.said().len(), 1);
}

fn nothing_pending(f: &Fixture) -> bool {
    let store = f.store.clone();
    let rows = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(store.pending_inbound("telegram"))
            .unwrap()
    })
    .join()
    .unwrap();
    rows.is_empty()
}

#[tokio::test]
async fn undo_and_retry_rewind_the_transcript() {
    let f = fixture("").await;
    f.llm.push(Reply::text("one"));
    f.runner.deliver(dm("6", "1", "first")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    f.llm.push(Reply::text("two"));
    f.runner.deliver(dm("6", "2", "second")).await.unwrap();
    until("answer", || f.recorder.said().len() == 2).await;

    f.llm.push(Reply::text("two, again"));
    f.runner.deliver(dm("6", "3", "/retry")).await.unwrap();
    until("retried answer", || f.recorder.said().len() == 3).await;
    assert_eq!(f.recorder.texts()[2], "two, again");
    let session = f.store.latest_session_for_key("agent:main:telegram:dm:6").await.unwrap().unwrap();
    let texts: Vec<String> =
        f.store.messages(&session.id).await.unwrap().into_iter().map(|m| m.message.content).collect();
    assert_eq!(texts, ["first", "one", "second", "two, again"]);

    f.runner.deliver(dm("6", "4", "/undo")).await.unwrap();
    until("undo reply", || f.recorder.said().len() == 4).await;
    assert_eq!(f.recorder.texts()[3], "↩️ Removed your last 1 turn(s) and the answers to them.");
    let texts: Vec<String> =
        f.store.messages(&session.id).await.unwrap().into_iter().map(|m| m.message.content).collect();
    assert_eq!(texts, ["first", "one"]);

    f.runner.deliver(dm("6", "5", "/undo 5")).await.unwrap();
    f.runner.deliver(dm("6", "6", "/undo x")).await.unwrap();
    until("two replies", || f.recorder.said().len() == 6).await;
    let texts = f.recorder.texts();
    assert!(texts.contains(&"There is nothing to undo.".to_string()), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("Usage: /undo [N]") && t.contains("`x`")), "{texts:?}");
}

#[tokio::test]
async fn model_and_reasoning_reach_the_next_request() {
    let f = fixture("").await;
    f.runner.deliver(dm("7", "1", "hello")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    for (id, text) in [("2", "/model big-model"), ("3", "/reasoning high"), ("4", "/reasoning loud")] {
        f.runner.deliver(dm("7", id, text)).await.unwrap();
        let n = f.recorder.said().len();
        until(text, || f.recorder.said().len() == n + 1).await;
    }
    let texts = f.recorder.texts();
    assert_eq!(texts[1], "🤖 Model for this session: big-model");
    assert_eq!(texts[2], "🧠 Reasoning effort for this chat: high");
    assert!(texts[3].starts_with("Unknown reasoning level `loud`."));
    f.runner.deliver(dm("7", "5", "again")).await.unwrap();
    until("answer", || f.recorder.said().len() == 5).await;
    let request = f.llm.last_request().unwrap();
    assert_eq!(request.model(), Some("big-model"));
    assert_eq!(request.body["reasoning_effort"], "high");
}

#[tokio::test]
async fn a_stranger_gets_a_pairing_code_once_and_then_silence() {
    let f = fixture_gated("", true).await;
    f.runner.deliver(dm("8", "1", "hi")).await.unwrap();
    until("pairing code", || f.recorder.said().len() == 1).await;
    let text = &f.recorder.texts()[0];
    let code = text.split('`').nth(1).unwrap().to_string();
    assert_eq!(code.len(), 8);
    assert_eq!(*text, herald_gateway::admission::pairing_code_text(&herald_core::Platform::Telegram, &code));
    f.runner.deliver(dm("8", "2", "hello?")).await.unwrap();
    until("second message finished", || nothing_pending(&f)).await;
    assert_eq!(f.recorder.said().len(), 1, "a second request within 600 s is silent");
    assert_eq!(f.llm.request_count(), 0);
    let row = f.store.inbound(2).await.unwrap().unwrap();
    assert_eq!(row.state, InboundState::Finished);

    // The operator approves the code; the user can talk.
    let approved = f.store.pairing_approve("telegram", &code, jiff::Timestamp::now().as_millisecond()).await.unwrap();
    assert_eq!(approved.unwrap().user_id, "8");
    f.llm.push(Reply::text("welcome"));
    f.runner.deliver(dm("8", "3", "hi again")).await.unwrap();
    until("answer", || f.recorder.said().len() == 2).await;
    assert_eq!(f.recorder.texts()[1], "welcome");
}

#[tokio::test]
async fn an_allowlist_ignores_strangers_and_admits_its_users() {
    let f = fixture_gated("telegram:\n  allowed_users: \"42\"\n", true).await;
    f.runner.deliver(dm("9", "1", "hi")).await.unwrap();
    f.llm.push(Reply::text("hello 42"));
    f.runner.deliver(dm("42", "1", "hi")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    until("stranger finished", || nothing_pending(&f)).await;
    assert_eq!(f.recorder.texts(), ["hello 42"]);
    assert!(f.store.list_sessions(SessionListQuery::default()).await.unwrap().sessions.len() == 1);
}

#[tokio::test]
async fn slash_access_tiers_deny_admin_commands_to_users() {
    let f = fixture("telegram:\n  allow_admin_from: \"1\"\n  user_allowed_commands: \"status\"\n").await;
    f.runner.deliver(dm("3", "1", "/model other")).await.unwrap();
    until("denial", || f.recorder.said().len() == 1).await;
    assert!(f.recorder.texts()[0].starts_with("⛔ /model is admin-only here. "), "{}", f.recorder.texts()[0]);
    f.runner.deliver(dm("1", "1", "/model other")).await.unwrap();
    until("admin reply", || f.recorder.said().len() == 2).await;
    assert!(!f.recorder.texts()[1].starts_with("⛔"), "{}", f.recorder.texts()[1]);
}
