//! `herald gateway run` with Telegram, end to end: the real binary against the fake
//! Telegram Bot API server and the scripted LLM, both on 127.0.0.1.

mod common;

use std::time::Duration;

use common::Herald;
use common::gateway::Gateway;
use herald_testkit::ScriptedLlm;
use herald_testkit::llm::{Reply, ServerOptions};
use herald_testkit::telegram::{FakeTelegram, TgUser};

const WITHIN: Duration = Duration::from_secs(30);

async fn slow_llm() -> ScriptedLlm {
    // Streams in many pieces with pauses, so previews have something to show.
    ScriptedLlm::start_with(ServerOptions {
        chunks: 12,
        chunk_delay: Duration::from_millis(120),
        ..ServerOptions::default()
    })
    .await
    .expect("start the scripted LLM")
}

fn herald_for(llm: &ScriptedLlm, tg: &FakeTelegram, locks: &std::path::Path) -> Herald {
    let mut h = Herald::openai(llm);
    h.set("TELEGRAM_BOT_TOKEN", tg.token());
    h.set("TELEGRAM_API_BASE_URL", &tg.base_url());
    h.set("HERALD_GATEWAY_LOCK_DIR", &locks.display().to_string());
    h.set("HERALD_STREAMING_TRANSPORT", "edit");
    h.set("HERALD_STREAMING_EDIT_INTERVAL", "0.3");
    h
}

/// Waits until the model has been asked once: the turn is running.
async fn turn_started(llm: &ScriptedLlm) {
    for _ in 0..600 {
        if llm.request_count() >= 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the turn never reached the model");
}

async fn wait_for(tg: &FakeTelegram, what: &str, done: impl FnMut(&herald_testkit::telegram::View<'_>) -> bool) {
    assert!(tg.wait_until(done, WITHIN).await, "timed out waiting for: {what}; calls: {:#?}", tg.calls());
}

#[tokio::test]
async fn a_stranger_pairs_then_chats_and_sees_the_answer_grow_by_edits() {
    let llm = slow_llm().await;
    let tg = FakeTelegram::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut h = herald_for(&llm, &tg, locks.path());
    let mut gw = Gateway::start(&mut h, &[]).await;
    let alice = TgUser::new(1001, "Alice");

    tg.private_text(&alice, "hello?");
    wait_for(&tg, "the pairing code", |v| !v.texts(1001).is_empty()).await;
    let text = tg.texts(1001)[0].clone();
    assert!(text.starts_with("Hi~ I don't recognize you yet!"), "{text}");
    assert_eq!(llm.request_count(), 0);
    let code = text.split("pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(code.len(), 8, "{text}");

    let approve = h.run(&["pairing", "approve", "telegram", &code]).await;
    assert_eq!(approve.code, 0, "{}", approve.stderr);

    let answer = "Sure. Here is a longer answer that streams in several pieces so the preview is edited a few times \
                  before it is final.";
    llm.push(Reply::text(answer));
    tg.private_text(&alice, "tell me something");
    wait_for(&tg, "the final answer", |v| v.texts(1001).iter().any(|t| t == answer)).await;
    let bot = tg.messages(1001).into_iter().find(|m| m.text.as_deref() == Some(answer)).unwrap();
    assert!(!bot.edits.is_empty(), "the answer grew by edits: {bot:?}");
    assert!(bot.edits.iter().all(|e| e.ends_with(" ▉")), "previews carry the cursor: {:?}", bot.edits);
    assert!(bot.reply_to_message_id.is_some(), "the answer replies to the message");

    // The transcript holds the exchange.
    let session = h.latest_session_id().await;
    let show = h.run(&["sessions", "show", &session]).await;
    assert!(show.stdout.contains("tell me something") && show.stdout.contains("Here is a longer answer"));
    assert_eq!(gw.stop().await, 0);
}

#[tokio::test]
async fn stop_interrupts_a_long_turn_and_new_starts_over() {
    let llm = ScriptedLlm::start().await;
    let tg = FakeTelegram::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut h = herald_for(&llm, &tg, locks.path());
    h.set("TELEGRAM_ALLOWED_USERS", "2002");
    let mut gw = Gateway::start(&mut h, &[]).await;
    let bob = TgUser::new(2002, "Bob");

    llm.push(Reply::text("never arrives").delayed(Duration::from_secs(120)));
    tg.private_text(&bob, "a long task");
    turn_started(&llm).await;
    tg.private_text(&bob, "/stop");
    wait_for(&tg, "the stop reply", |v| {
        v.texts(2002).iter().any(|t| t == "⚡ Stopped. You can continue this session.")
    })
    .await;

    tg.private_text(&bob, "/new");
    wait_for(&tg, "the new-session reply", |v| v.texts(2002).iter().any(|t| t.starts_with("✨ New session started.")))
        .await;
    assert_eq!(gw.stop().await, 0);
}

#[tokio::test]
async fn a_crash_mid_turn_loses_nothing_and_answers_once() {
    let llm = ScriptedLlm::start().await;
    let tg = FakeTelegram::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut h = herald_for(&llm, &tg, locks.path());
    h.set("TELEGRAM_ALLOWED_USERS", "3003");
    let gw = Gateway::start(&mut h, &[]).await;
    let carol = TgUser::new(3003, "Carol");

    llm.push(Reply::text("too late").delayed(Duration::from_secs(120)));
    tg.private_text(&carol, "question before the crash");
    turn_started(&llm).await;
    let mut daemon = gw.daemon;
    daemon.signal("KILL");
    daemon.wait(WITHIN).await;

    llm.push(Reply::text("the answer after the restart"));
    let mut gw = Gateway::start(&mut h, &[]).await;
    wait_for(&tg, "the resumed answer", |v| v.texts(3003).iter().any(|t| t == "the answer after the restart")).await;
    // Give a duplicate every chance to show up, then check there is none.
    tg.private_text(&carol, "and now?");
    llm.push(Reply::text("second answer"));
    wait_for(&tg, "the second answer", |v| v.texts(3003).iter().any(|t| t == "second answer")).await;
    let texts = tg.texts(3003);
    assert_eq!(texts.iter().filter(|t| *t == "the answer after the restart").count(), 1, "{texts:?}");
    assert!(!texts.iter().any(|t| t == "too late"));
    let session = h.latest_session_id().await;
    let show = h.run(&["sessions", "show", &session]).await;
    assert_eq!(show.stdout.matches("question before the crash").count(), 1, "{}", show.stdout);
    assert_eq!(gw.stop().await, 0);
}

#[tokio::test]
async fn a_second_gateway_with_the_same_token_is_refused() {
    let llm = ScriptedLlm::start().await;
    let tg = FakeTelegram::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut first = herald_for(&llm, &tg, locks.path());
    let mut gw = Gateway::start(&mut first, &[]).await;

    let mut second = herald_for(&llm, &tg, locks.path());
    second.set("API_SERVER_PORT", &common::free_port().to_string());
    let run = tokio::time::timeout(WITHIN, second.run(&["gateway", "run"])).await.expect("the second gateway exits");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("telegram") && run.stderr.contains(&gw.daemon.pid().to_string()), "{}", run.stderr);
    assert!(!run.stderr.contains(tg.token()), "the token never reaches a message");
    assert_eq!(gw.stop().await, 0);
}

#[tokio::test]
async fn sigterm_lets_a_running_turn_finish() {
    let llm = ScriptedLlm::start().await;
    let tg = FakeTelegram::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut h = herald_for(&llm, &tg, locks.path());
    h.set("TELEGRAM_ALLOWED_USERS", "4004");
    let mut gw = Gateway::start(&mut h, &[]).await;
    let dan = TgUser::new(4004, "Dan");

    llm.push(Reply::text("finished during the drain").delayed(Duration::from_secs(2)));
    tg.private_text(&dan, "quick one");
    turn_started(&llm).await;
    assert_eq!(gw.stop().await, 0);
    assert!(tg.texts(4004).iter().any(|t| t == "finished during the drain"), "{:?}", tg.texts(4004));
}

#[tokio::test]
async fn a_flood_of_refused_edits_backs_off_and_sends_the_rest_as_new_messages() {
    let llm = ScriptedLlm::start_with(ServerOptions {
        chunks: 14,
        chunk_delay: Duration::from_millis(400),
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let tg = FakeTelegram::start().await;
    let locks = tempfile::tempdir().unwrap();
    let mut h = herald_for(&llm, &tg, locks.path());
    h.set("TELEGRAM_ALLOWED_USERS", "5005");
    let mut gw = Gateway::start(&mut h, &[]).await;
    let eve = TgUser::new(5005, "Eve");
    // Telegram refuses the next three edits with flood control.
    tg.fail_next("editMessageText", 3, herald_testkit::telegram::Fault::too_many_requests(1));
    let answer = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen \
                  seventeen eighteen nineteen twenty";
    llm.push(Reply::text(answer));
    tg.private_text(&eve, "count for me");
    wait_for(&tg, "two bot messages", |v| v.messages(5005).iter().filter(|m| m.from_bot).count() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bot: Vec<_> = tg.messages(5005).into_iter().filter(|m| m.from_bot && !m.deleted).collect();
    assert_eq!(bot.len(), 2, "{bot:#?}");
    let preview = bot[0].text.clone().unwrap();
    let shown = preview.strip_suffix(" ▉").expect("the stopped preview keeps its cursor");
    let rest = bot[1].text.clone().unwrap();
    assert!(answer.starts_with(shown), "{shown:?}");
    assert_eq!(format!("{} {}", shown.trim_end(), rest), answer, "nothing lost, nothing repeated");
    let refused = tg.calls_of("editMessageText").iter().filter(|c| c.status == 429).count();
    assert_eq!(refused, 3);
    assert_eq!(gw.stop().await, 0);
}

/// Moves every session's last activity `hours` back, as that long without a message would.
fn age_sessions(h: &Herald, hours: i64) {
    let db = rusqlite::Connection::open(h.db()).expect("open the database");
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute("UPDATE sessions SET updated_at = updated_at - ?1", [hours * 3_600_000]).expect("age the sessions");
}

#[tokio::test]
async fn idle_and_daily_resets_fire_with_hermes_notice() {
    for (mode, hours, reason) in [("idle", 2, "(inactive for 2h)"), ("daily", 25, "(daily schedule at 4:00)")] {
        let llm = ScriptedLlm::start().await;
        let tg = FakeTelegram::start().await;
        let locks = tempfile::tempdir().unwrap();
        let mut h = herald_for(&llm, &tg, locks.path());
        h.set("TELEGRAM_ALLOWED_USERS", "6006");
        h.set("HERALD_SESSION_RESET_MODE", mode);
        h.set("SESSION_IDLE_MINUTES", "60");
        h.set("SESSION_RESET_HOUR", "4");
        let mut gw = Gateway::start(&mut h, &[]).await;
        let fay = TgUser::new(6006, "Fay");
        llm.push(Reply::text("first answer"));
        tg.private_text(&fay, "remember 42");
        wait_for(&tg, "the first answer", |v| v.texts(6006).iter().any(|t| t == "first answer")).await;
        age_sessions(&h, hours);
        llm.push(Reply::text("fresh answer"));
        tg.private_text(&fay, "what did I say?");
        wait_for(&tg, "the fresh answer", |v| v.texts(6006).iter().any(|t| t == "fresh answer")).await;
        let texts = tg.texts(6006);
        let notice = texts.iter().find(|t| t.starts_with("◐ Session automatically reset")).expect("a notice");
        assert!(notice.contains(reason), "{mode}: {notice}");
        let last = llm.last_request().unwrap();
        assert!(!last.messages().iter().any(|m| m["content"] == "remember 42"), "{mode}: history was cleared");
        assert_eq!(gw.stop().await, 0);
    }
}

#[tokio::test]
async fn a_message_mid_turn_interrupts_or_queues_per_the_mode() {
    for mode in ["interrupt", "queue"] {
        let llm = ScriptedLlm::start().await;
        let tg = FakeTelegram::start().await;
        let locks = tempfile::tempdir().unwrap();
        let mut h = herald_for(&llm, &tg, locks.path());
        h.set("TELEGRAM_ALLOWED_USERS", "7007");
        h.set("HERMES_GATEWAY_BUSY_INPUT_MODE", mode);
        let mut gw = Gateway::start(&mut h, &[]).await;
        let gus = TgUser::new(7007, "Gus");
        llm.push(Reply::text("the first answer").delayed(Duration::from_secs(5)));
        llm.push(Reply::text("the second answer"));
        tg.private_text(&gus, "first");
        turn_started(&llm).await;
        // Past Telegram's 3 s follow-up window, in which messages are always queued.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        tg.private_text(&gus, "second");
        wait_for(&tg, "the second answer", |v| v.texts(7007).iter().any(|t| t == "the second answer")).await;
        let texts = tg.texts(7007);
        match mode {
            "interrupt" => {
                assert!(texts.iter().any(|t| t.starts_with("⚡ Interrupting current task (")), "{texts:?}");
                assert!(!texts.iter().any(|t| t == "the first answer"), "{texts:?}");
            }
            _ => {
                assert!(texts.iter().any(|t| t.starts_with("⏳ Queued for the next turn (")), "{texts:?}");
                let first = texts.iter().position(|t| t == "the first answer").expect("first answered");
                let second = texts.iter().position(|t| t == "the second answer").unwrap();
                assert!(first < second, "{texts:?}");
            }
        }
        assert_eq!(gw.stop().await, 0);
    }
}
