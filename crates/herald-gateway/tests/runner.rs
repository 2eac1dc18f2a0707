//! The runner against the scripted LLM and a real SQLite store: sessions, resets, busy
//! modes, shutdown and resume, with a recorder in place of a platform's delivery.

mod runner_common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use herald_core::config::{BusyInputMode, ResetMode};
use herald_core::{Accepted, ChatType, InboundSink};
use herald_store::{InboundState, SessionListQuery, SqliteStore, Store};
use herald_testkit::llm::{Reply, ScriptedToolCall};
use runner_common::*;

#[tokio::test]
async fn a_message_is_recorded_answered_and_its_copy_dropped() {
    let f = fixture("").await;
    f.llm.push(Reply::text("hello back"));
    assert_eq!(f.runner.deliver(dm("99", "1", "hello")).await.unwrap(), Accepted::Recorded);
    until("the answer", || !f.recorder.said().is_empty()).await;
    let said = f.recorder.said();
    assert_eq!(said[0].text, "hello back");
    assert!(said[0].streamed, "streaming is on by default");
    let (id, outcome) = said[0].finished.clone().unwrap();
    assert_eq!(outcome, "answered");
    assert_eq!(inbound_state(&f.store, id).await, (InboundState::Finished, Some("answered".into())));

    // The platform delivers the same update again (a crash before its cursor moved).
    assert_eq!(f.runner.deliver(dm("99", "1", "hello")).await.unwrap(), Accepted::Duplicate);

    let session = f.store.latest_session_for_key("agent:main:telegram:dm:99").await.unwrap().unwrap();
    let messages = f.store.messages(&session.id).await.unwrap();
    let texts: Vec<&str> = messages.iter().map(|m| m.message.content.as_str()).collect();
    assert_eq!(texts, ["hello", "hello back"]);
    assert_eq!(session.platform, "telegram");
    assert_eq!(session.chat_type.as_deref(), Some("dm"));
    let system = f.llm.last_request().unwrap().system_text();
    assert!(system.contains("Platform: telegram (a direct message)"), "{system}");
    assert!(system.contains("\"user 99\" (id 99)"), "{system}");
    assert_eq!(f.llm.request_count(), 1, "the copy never reached the model");
}

#[tokio::test]
async fn a_batch_is_recorded_in_one_write_and_answered_in_order_with_its_copies_dropped() {
    let f = fixture("").await;
    f.llm.push_all([Reply::text("one"), Reply::text("two"), Reply::text("three")]);
    let batch = vec![dm("7", "1", "first"), dm("7", "2", "second"), dm("7", "1", "first"), dm("8", "3", "other")];
    let outcomes: Vec<Accepted> = f.runner.deliver_all(batch).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes, [Accepted::Recorded, Accepted::Recorded, Accepted::Duplicate, Accepted::Recorded]);
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        // Three answered turns (an acknowledgement of the queued message may come too).
        while f.recorder.said().iter().filter(|s| s.finished.as_ref().is_some_and(|f| f.1 == "answered")).count() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "said: {:#?}", f.recorder.said());
    let said = f.recorder.texts();
    assert!(said.iter().all(|t| !t.starts_with('⚡')), "a batch's second message queues (follow-up): {said:?}");
    let session = f.store.latest_session_for_key("agent:main:telegram:dm:7").await.unwrap().unwrap();
    let users: Vec<String> = f
        .store
        .messages(&session.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.role == herald_core::Role::User)
        .map(|m| m.message.content)
        .collect();
    assert_eq!(users, ["first", "second"], "one chat's messages in the platform's order, the copy dropped");
    assert_eq!(f.llm.request_count(), 3);
}

#[tokio::test]
async fn past_the_in_flight_limit_a_message_waits_unrecorded_until_a_turn_ends() {
    let f = fixture("").await;
    f.runner.limit_in_flight(2);
    for _ in 0..3 {
        f.llm.push(Reply::text("slow").delayed(Duration::from_millis(1500)));
    }
    assert_eq!(f.runner.deliver(dm("21", "1", "one")).await.unwrap(), Accepted::Recorded);
    assert_eq!(f.runner.deliver(dm("22", "1", "two")).await.unwrap(), Accepted::Recorded);
    let runner = f.runner.clone();
    let third = tokio::spawn(async move { runner.deliver(dm("23", "1", "three")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "the third waits while two are in flight");
    assert_eq!(f.store.pending_inbound("telegram").await.unwrap().len(), 2, "and is not recorded yet");
    assert_eq!(third.await.unwrap().unwrap(), Accepted::Recorded, "taken once a turn ended");
    until("three answers", || f.recorder.said().len() == 3).await;
}

#[tokio::test]
async fn each_chat_keeps_its_own_session_and_history() {
    let f = fixture("").await;
    f.runner.deliver(dm("1", "1", "first in one")).await.unwrap();
    until("one answer", || f.recorder.said().len() == 1).await;
    f.runner.deliver(dm("2", "1", "first in two")).await.unwrap();
    until("two answers", || f.recorder.said().len() == 2).await;
    f.runner.deliver(dm("1", "2", "second in one")).await.unwrap();
    until("three answers", || f.recorder.said().len() == 3).await;
    let last = f.llm.last_request().unwrap();
    let contents: Vec<String> =
        last.messages().iter().filter_map(|m| m["content"].as_str().map(str::to_string)).collect();
    assert!(contents.contains(&"first in one".to_string()), "{contents:?}");
    assert!(!contents.contains(&"first in two".to_string()), "{contents:?}");
    let list = f.store.list_sessions(SessionListQuery::default()).await.unwrap();
    assert_eq!(list.sessions.len(), 2);
    assert_eq!(f.recorder.said()[2].chat, "1");
}

#[tokio::test]
async fn admission_replies_and_finishes_without_a_session() {
    let f = fixture("").await;
    let mut stranger = dm("5", "1", "hi");
    stranger.source.user_id = Some("stranger".into());
    f.runner.deliver(stranger).await.unwrap();
    until("the refusal", || !f.recorder.said().is_empty()).await;
    let said = &f.recorder.said()[0];
    assert_eq!(said.text, "who are you?");
    assert_eq!(said.finished.as_ref().unwrap().1, "unauthorized");
    assert_eq!(f.llm.request_count(), 0);
    assert!(f.store.list_sessions(SessionListQuery::default()).await.unwrap().sessions.is_empty());
}

#[tokio::test]
async fn an_idle_session_resets_with_hermes_notice() {
    let f = fixture("session_reset:\n  mode: idle\n  idle_minutes: 60\n").await;
    f.runner.deliver(dm("7", "1", "remember 42")).await.unwrap();
    until("first answer", || f.recorder.said().len() == 1).await;
    let first = f.store.latest_session_for_key("agent:main:telegram:dm:7").await.unwrap().unwrap();

    f.offset.store(61 * 60_000, Ordering::SeqCst);
    f.runner.deliver(dm("7", "2", "what did I say?")).await.unwrap();
    until("notice and answer", || f.recorder.said().len() == 3).await;
    let texts = f.recorder.texts();
    assert_eq!(
        texts[1],
        "◐ Session automatically reset (inactive for 1h 1m). Conversation history cleared.\n\
         Adjust reset timing in config.yaml under session_reset."
    );
    let old = f.store.session(&first.id).await.unwrap().unwrap();
    assert!(!old.flags.expiry_finalized, "the sweep had not run");
    assert_eq!(old.end_reason.as_deref(), Some("session_reset"));
    let new = f.store.latest_session_for_key("agent:main:telegram:dm:7").await.unwrap().unwrap();
    assert_ne!(new.id, first.id);
    assert!(new.flags.was_auto_reset);
    assert_eq!(new.flags.auto_reset_reason.as_deref(), Some("idle"));
    let last = f.llm.last_request().unwrap();
    assert!(!last.messages().iter().any(|m| m["content"] == "remember 42"), "history was cleared");
    assert!(last.system_text().contains("expired due to inactivity"));
}

#[tokio::test]
async fn the_expiry_sweep_finalizes_expired_sessions_only() {
    let f = fixture("session_reset:\n  mode: idle\n  idle_minutes: 60\n").await;
    f.runner.deliver(dm("12", "1", "hi")).await.unwrap();
    until("answer", || f.recorder.said().len() == 1).await;
    assert_eq!(f.runner.sweep_expired().await.unwrap(), 0);
    f.offset.store(61 * 60_000, Ordering::SeqCst);
    assert_eq!(f.runner.sweep_expired().await.unwrap(), 1);
    assert_eq!(f.runner.sweep_expired().await.unwrap(), 0, "finalized once");
    let session = f.store.latest_session_for_key("agent:main:telegram:dm:12").await.unwrap().unwrap();
    assert!(session.flags.expiry_finalized);
    // The next message still gets the reset notice.
    f.runner.deliver(dm("12", "2", "back")).await.unwrap();
    until("notice and answer", || f.recorder.said().len() == 3).await;
    assert!(f.recorder.texts()[1].starts_with("◐ Session automatically reset (inactive for 1h 1m)."));
}

#[tokio::test]
async fn a_daily_reset_fires_after_the_hour_passes() {
    let f = fixture("session_reset:\n  mode: daily\n  at_hour: 4\n").await;
    f.runner.deliver(dm("8", "1", "hi")).await.unwrap();
    until("first answer", || f.recorder.said().len() == 1).await;
    f.offset.store(25 * 3_600_000, Ordering::SeqCst);
    f.runner.deliver(dm("8", "2", "hi again")).await.unwrap();
    until("notice and answer", || f.recorder.said().len() == 3).await;
    assert!(f.recorder.texts()[1].starts_with("◐ Session automatically reset (daily schedule at 4:00)."));
}

#[tokio::test]
async fn typing_is_renewed_every_5_s_while_a_turn_runs_and_stops_with_it() {
    let f = fixture("").await;
    f.llm.push(Reply::text("a slow answer").delayed(Duration::from_millis(6500)));
    f.runner.deliver(dm("4", "1", "take your time")).await.unwrap();
    until("the answer", || f.recorder.said().len() == 1).await;
    let typing = f.recorder.typing.lock().unwrap().clone();
    assert_eq!(typing, ["4", "4"], "set at the start and once more 5 s later");
    tokio::time::sleep(Duration::from_millis(5200)).await;
    assert_eq!(f.recorder.typing.lock().unwrap().len(), 2, "not renewed after the turn");
}

#[tokio::test]
async fn a_message_mid_turn_interrupts_by_default() {
    let f = fixture("").await;
    f.llm.push(Reply::text("a very long answer").delayed(Duration::from_secs(60)));
    f.llm.push(Reply::text("answer to the second"));
    f.runner.deliver(dm("3", "1", "long question")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    // Past Telegram's follow-up window, which would queue instead.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    f.runner.deliver(dm("3", "2", "never mind, this")).await.unwrap();
    until("ack, stop and answer", || f.recorder.said().len() == 3).await;
    let said = f.recorder.said();
    assert!(said[0].text.starts_with("⚡ Interrupting current task ("), "{said:?}");
    let stopped = said.iter().find(|s| s.finished.as_ref().is_some_and(|f| f.1 == "stopped")).expect("stopped turn");
    assert_eq!(stopped.text, "", "nothing was streamed before the interrupt");
    assert_eq!(said[2].text, "answer to the second");
    assert_eq!(said[2].finished.as_ref().unwrap().1, "answered");
}

#[tokio::test]
async fn queue_mode_answers_both_in_order() {
    let f = fixture("display:\n  busy_input_mode: queue\n").await;
    assert_eq!(f.config.sessions.busy_input_mode, BusyInputMode::Queue);
    f.llm.push(Reply::text("first answer").delayed(Duration::from_millis(500)));
    f.llm.push(Reply::text("second answer"));
    f.runner.deliver(dm("4", "1", "one")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.runner.deliver(dm("4", "2", "two")).await.unwrap();
    until("ack and two answers", || f.recorder.said().len() == 3).await;
    let texts = f.recorder.texts();
    assert!(texts[0].starts_with("⏳ Queued for the next turn ("), "{texts:?}");
    assert_eq!(&texts[1..], ["first answer", "second answer"]);
    // The second turn saw the first exchange.
    let last = f.llm.last_request().unwrap();
    assert!(last.messages().iter().any(|m| m["content"] == "first answer"));
}

#[tokio::test]
async fn steer_mode_hands_the_message_to_the_running_turn() {
    let f = fixture("display:\n  busy_input_mode: steer\n").await;
    f.llm.push(
        Reply::ToolCalls(vec![ScriptedToolCall::new("clock", serde_json::json!({}))])
            .delayed(Duration::from_millis(800)),
    );
    f.llm.push(Reply::text("done, in metric"));
    f.runner.deliver(dm("6", "1", "measure it")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.runner.deliver(dm("6", "2", "use metric")).await.unwrap();
    until("ack and answer", || f.recorder.said().len() == 2).await;
    let said = f.recorder.said();
    assert!(said[0].text.starts_with("⏩ Steered into current run ("), "{said:?}");
    assert_eq!(said[1].text, "done, in metric");
    let second = &f.llm.requests()[1];
    let tool_result = second.messages().last().unwrap()["content"].as_str().unwrap().to_string();
    assert!(tool_result.ends_with("[The user sent this while you were working: use metric]"), "{tool_result}");
    // The steered message is finished as such; only one model round trip per answer.
    until("steered finished", || true).await;
    let rows = f.store.pending_inbound("telegram").await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(f.llm.request_count(), 2);
}

#[tokio::test]
async fn a_turn_stopped_by_shutdown_is_resumed_after_the_restart() {
    let f = fixture("").await;
    f.llm.push(Reply::text("too slow").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("9", "1", "question")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.shutdown.cancel();
    assert!(f.runner.wait_stopped(Duration::from_secs(10)).await);
    assert!(f.recorder.said().is_empty(), "nothing is said for a turn the restart will run");
    let pending = f.store.pending_inbound("telegram").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, InboundState::Started);

    // The next process over the same database.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
    let (runner, recorder, _shutdown, _) = runner_over(f._dir.path(), &f.llm, store.clone(), f.config.clone());
    f.llm.push(Reply::text("the resumed answer"));
    let report = runner.resume("telegram").await.unwrap();
    assert_eq!(report.resumed, 1);
    until("the resumed answer", || !recorder.said().is_empty()).await;
    assert_eq!(recorder.texts(), ["the resumed answer"]);
    let session = store.latest_session_for_key("agent:main:telegram:dm:9").await.unwrap().unwrap();
    let texts: Vec<String> =
        store.messages(&session.id).await.unwrap().into_iter().map(|m| m.message.content).collect();
    assert_eq!(texts, ["question", "the resumed answer"], "the question is in the transcript once");
    assert!(!session.flags.resume_pending);
    assert!(store.pending_inbound("telegram").await.unwrap().is_empty());
}

#[tokio::test]
async fn three_failed_resumes_suspend_the_session() {
    let f = fixture("").await;
    f.llm.set_fallback(Reply::text("never").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("10", "1", "crashy")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.shutdown.cancel();
    assert!(f.runner.wait_stopped(Duration::from_secs(10)).await);
    // Three restarts, each dying during the resumed turn.
    for attempt in 1..=3 {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
        let (runner, _, shutdown, _) = runner_over(f._dir.path(), &f.llm, store, f.config.clone());
        let before = f.llm.request_count();
        assert_eq!(runner.resume("telegram").await.unwrap().resumed, 1, "attempt {attempt}");
        until("the resumed turn to start", || f.llm.request_count() > before).await;
        shutdown.cancel();
        assert!(runner.wait_stopped(Duration::from_secs(10)).await);
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
    let (runner, recorder, _, _) = runner_over(f._dir.path(), &f.llm, store.clone(), f.config.clone());
    let report = runner.resume("telegram").await.unwrap();
    assert_eq!((report.resumed, report.suspended), (0, 1));
    let session = store.latest_session_for_key("agent:main:telegram:dm:10").await.unwrap().unwrap();
    assert!(session.flags.suspended);

    // The next message starts over, with the suspension notice.
    f.llm.set_fallback(Reply::text("fresh start"));
    runner.deliver(dm("10", "2", "hello?")).await.unwrap();
    until("notice and answer", || recorder.said().len() == 2).await;
    assert!(recorder.texts()[0].contains("(previous session was stopped or interrupted)"));
    assert_eq!(recorder.texts()[1], "fresh start");
}

#[tokio::test]
async fn an_interrupted_turn_older_than_the_window_is_not_resumed() {
    let f = fixture("agent:\n  gateway_auto_continue_freshness: 60\n").await;
    f.llm.push(Reply::text("too slow").delayed(Duration::from_secs(60)));
    f.runner.deliver(dm("11", "1", "old question")).await.unwrap();
    until("the turn to start", || f.llm.request_count() == 1).await;
    f.shutdown.cancel();
    assert!(f.runner.wait_stopped(Duration::from_secs(10)).await);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&f.db).unwrap());
    let (runner, recorder, _, offset) = runner_over(f._dir.path(), &f.llm, store.clone(), f.config.clone());
    offset.store(120_000, Ordering::SeqCst);
    let report = runner.resume("telegram").await.unwrap();
    assert_eq!((report.resumed, report.expired), (0, 1));
    f.llm.push(Reply::text("new answer"));
    runner.deliver(dm("11", "2", "new question")).await.unwrap();
    until("notice and answer", || recorder.said().len() == 2).await;
    assert!(recorder.texts()[0].contains("previous session was stopped or interrupted"));
    let session = store.latest_session_for_key("agent:main:telegram:dm:11").await.unwrap().unwrap();
    assert_eq!(session.flags.auto_reset_reason.as_deref(), Some("resume_pending_expired"));
}

#[tokio::test]
async fn group_members_get_their_own_sessions() {
    let f = fixture("").await;
    for (user, id) in [("alice", "1"), ("bob", "2")] {
        let mut m = dm("-100", id, "hi");
        m.source.chat_type = ChatType::Group;
        m.source.user_id = Some(user.into());
        f.runner.deliver(m).await.unwrap();
    }
    until("two answers", || f.recorder.said().len() == 2).await;
    assert!(f.store.latest_session_for_key("agent:main:telegram:group:-100:alice").await.unwrap().is_some());
    assert!(f.store.latest_session_for_key("agent:main:telegram:group:-100:bob").await.unwrap().is_some());
    let _ = ResetMode::None;
}
