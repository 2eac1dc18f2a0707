//! The delivery stage's streaming against a scripted adapter and a real SQLite store
//! (Hermes's stream consumer, reference §6): previews grow by edits or native drafts,
//! think blocks and silence markers never reach the chat, long answers are chunked,
//! flood control stops the edits without losing or repeating text, and the final
//! answer goes through the outbox (retries, the at-most-once crash window). Time is
//! tokio's paused clock wherever the edit interval matters.

mod delivery_common;

use std::time::Duration;

use delivery_common::{CURSOR, Kind, caps, edits, fixture, sends, streaming, target, words};
use herald_core::config::StreamingConfig;
use herald_core::{Capabilities, ChatType, LengthUnit, OutboundOp, SendError, TextFormat};
use herald_gateway::delivery::Delivery;
use herald_gateway::runner::{Origin, Replies};
use herald_store::{InboundState, NewOutbound, OutboundState};
use tokio_util::sync::CancellationToken;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(start_paused = true)]
async fn streaming_grows_by_edits_and_finishes_the_inbound_row() {
    let f = fixture(caps(), streaming());
    let origin = f.inbound("42:1").await;
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    let pieces = ["Hello", " there,", " this", " answer", " grows", " word", " by", " word."];
    for piece in pieces {
        stream.push_delta(piece);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let full = pieces.concat();
    stream.finish(&full, origin.clone()).await.unwrap();
    // The inbound message is finished in the same write that queues the answer.
    assert_eq!(f.outcome(&origin).await, (InboundState::Finished, Some("answered".into())));
    f.flush().await;

    let ops = f.adapter.ops();
    assert!(matches!(&ops[0], OutboundOp::Send { text, .. } if text.ends_with(CURSOR)), "{ops:?}");
    let edits = edits(&ops);
    assert!(edits.len() >= 3, "the preview grew by edits: {ops:?}");
    let (last, previews) = edits.split_last().unwrap();
    let mut before = sends(&ops)[0].trim_end_matches(CURSOR).to_string();
    for preview in previews {
        assert!(preview.ends_with(CURSOR), "a preview shows the cursor: {preview:?}");
        let now = preview.trim_end_matches(CURSOR);
        assert!(now.starts_with(&before) && now.len() > before.len(), "{before:?} grew to {now:?}");
        before = now.to_string();
    }
    assert_eq!(last, &full, "the final edit has no cursor");
    assert!(matches!(ops.last(), Some(OutboundOp::Edit { format: TextFormat::Markdown, .. })), "{ops:?}");
    assert_eq!(sends(&ops).len(), 1, "one message for the whole answer");
    assert_eq!(f.adapter.chat(), vec![full]);
    let rows = f.rows().await;
    assert_eq!(rows.len(), 1, "only the final edit goes through the outbox: {rows:?}");
    assert_eq!(rows[0].state, OutboundState::Sent);
}

#[tokio::test(start_paused = true)]
async fn think_blocks_never_reach_the_chat() {
    let f = fixture(caps(), streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    for piece in ["<thi", "nk>secret plan", " more secret", "</think>", "Visible answer text that is long enough"] {
        stream.push_delta(piece);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let raw = "<think>secret plan more secret</think>Visible answer text that is long enough";
    stream.finish(raw, Origin::session("s1")).await.unwrap();
    f.flush().await;
    let ops = f.adapter.ops();
    assert!(!ops.is_empty(), "the answer was delivered");
    for op in &ops {
        let shown = format!("{op:?}");
        assert!(!shown.contains("secret") && !shown.contains("<thi") && !shown.contains("think>"), "{op:?}");
    }
    assert_eq!(f.adapter.chat(), vec!["Visible answer text that is long enough".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn native_drafts_in_dms_and_edits_elsewhere() {
    let f = fixture(Capabilities { draft_in_dm: true, ..caps() }, streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Dm), "s1");
    for piece in ["Drafted", " answer", " in", " a", " private", " chat"] {
        stream.push_delta(piece);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stream.finish("Drafted answer in a private chat", Origin::session("s1")).await.unwrap();
    f.flush().await;
    let ops = f.adapter.ops();
    let drafts = |ops: &[OutboundOp]| -> Vec<(u64, String)> {
        ops.iter()
            .filter_map(|op| match op {
                OutboundOp::Draft { draft_id, text } => Some((*draft_id, text.clone())),
                _ => None,
            })
            .collect()
    };
    let first = drafts(&ops);
    assert!(first.len() >= 2, "the draft grew: {ops:?}");
    assert!(first.iter().all(|(id, _)| *id == first[0].0), "one stable draft id per answer: {first:?}");
    assert!(first.iter().all(|(_, text)| text.ends_with(CURSOR)));
    assert!(edits(&ops).is_empty(), "{ops:?}");
    assert_eq!(sends(&ops), vec!["Drafted answer in a private chat".to_string()], "the draft becomes one message");

    // The next answer in the DM gets a draft of its own.
    let mut again = f.delivery.stream(&target(ChatType::Dm), "s1");
    again.push_delta("A second drafted answer, long enough");
    tokio::time::sleep(Duration::from_secs(1)).await;
    again.finish("A second drafted answer, long enough", Origin::session("s1")).await.unwrap();
    f.flush().await;
    let second = drafts(&f.adapter.ops()[ops.len()..]);
    assert!(!second.is_empty() && second.iter().all(|(id, _)| *id != first[0].0), "{second:?}");

    // The same adapter in a group edits a preview instead.
    let before = f.adapter.ops().len();
    let mut group = f.delivery.stream(&target(ChatType::Group), "s2");
    group.push_delta("A group answer, long enough to show");
    tokio::time::sleep(Duration::from_secs(1)).await;
    group.finish("A group answer, long enough to show", Origin::session("s2")).await.unwrap();
    f.flush().await;
    let later = &f.adapter.ops()[before..];
    assert!(drafts(later).is_empty(), "{later:?}");
    assert_eq!(sends(later), vec![format!("A group answer, long enough to show{CURSOR}")]);
    assert_eq!(edits(later), vec!["A group answer, long enough to show".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn a_platform_without_edits_gets_one_final_send() {
    let f = fixture(Capabilities { edit: false, delete: false, ..caps() }, streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    for piece in ["No", " previews", " here", " at", " all,", " not even after a long while"] {
        stream.push_delta(piece);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(f.adapter.ops().is_empty(), "nothing is shown while the answer is written");
    stream.finish("No previews here at all, not even after a long while", Origin::session("s1")).await.unwrap();
    f.flush().await;
    assert_eq!(
        f.adapter.ops(),
        vec![OutboundOp::Send {
            text: "No previews here at all, not even after a long while".into(),
            format: TextFormat::Markdown
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn long_answers_are_chunked_at_the_limit_with_fences_intact() {
    let f = fixture(Capabilities { max_message_len: 500, length_unit: LengthUnit::Utf16, ..caps() }, streaming());
    let mut text = String::from("Here is the code 😀:\n```rust\n");
    for i in 0..60 {
        text.push_str(&format!("let value_{i} = compute({i});\n"));
    }
    text.push_str("```\nThat is all.");
    let origin = f.inbound("42:2").await;
    f.delivery.send_text(&target(ChatType::Group), &text, origin.clone()).await.unwrap();
    assert_eq!(f.outcome(&origin).await, (InboundState::Finished, Some("answered".into())));
    f.flush().await;

    let chunks = sends(&f.adapter.ops());
    assert!(chunks.len() >= 4, "{}", chunks.len());
    let rows = f.rows().await;
    assert_eq!(rows.len(), chunks.len(), "one outbox entry per part");
    assert!(rows.iter().all(|r| r.state == OutboundState::Sent), "{rows:?}");
    let total = chunks.len();
    for (i, chunk) in chunks.iter().enumerate() {
        assert!(LengthUnit::Utf16.len(chunk) <= 500);
        assert!(chunk.ends_with(&format!(" ({}/{total})", i + 1)), "{chunk:?}");
        let fences = chunk.lines().filter(|line| line.trim_start().starts_with("```")).count();
        assert_eq!(fences % 2, 0, "balanced fences in {chunk:?}");
        if i > 0 && i < total - 1 {
            assert!(chunk.starts_with("```rust\n"), "reopened with its language: {chunk:?}");
        }
    }
    assert!(chunks[0].starts_with("Here is the code 😀:"));
    assert!(chunks[total - 1].contains("That is all."));
    for i in 0..60 {
        let line = format!("let value_{i} = compute({i});");
        assert_eq!(chunks.iter().filter(|c| c.contains(&line)).count(), 1, "{line} once");
    }
}

#[tokio::test(start_paused = true)]
async fn flood_strikes_stop_edits_and_the_tail_is_sent_without_loss_or_repeat() {
    let f = fixture(caps(), streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    let pieces: Vec<String> = (0..40).map(|i| format!("word{i} ")).collect();
    stream.push_delta(&pieces[..5].concat());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(f.adapter.chat().len(), 1, "the preview is shown");
    // Every edit from now on is refused for flood control.
    f.adapter.fail(Kind::Edit, 100, SendError::RateLimited { retry_after: Duration::from_secs(1) });
    for piece in &pieces[5..] {
        stream.push_delta(piece);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let full = pieces.concat().trim_end().to_string();
    stream.finish(&full, Origin::session("s1")).await.unwrap();
    f.flush().await;

    let ops = f.adapter.ops();
    assert_eq!(edits(&ops).len(), 3, "edits stop after three strikes, the final one too: {ops:?}");
    let chat = f.adapter.chat();
    assert_eq!(chat.len(), 2, "the preview and the missing tail: {chat:?}");
    assert!(chat[0].ends_with(CURSOR), "the preview is left as it was: {chat:?}");
    let shown = format!("{} {}", chat[0].trim_end_matches(CURSOR), chat[1]);
    assert_eq!(words(&shown), words(&full), "every word once, in order");
    assert!(f.rows().await.iter().all(|r| r.state == OutboundState::Sent));
}

#[tokio::test(start_paused = true)]
async fn a_flood_limited_final_edit_falls_back_at_once_when_the_platform_asks() {
    let f = fixture(Capabilities { fallback_on_final_edit_flood: true, ..caps() }, streaming());
    let origin = f.inbound("42:3").await;
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("The beginning of the answer");
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.adapter.fail(Kind::Edit, 1, SendError::RateLimited { retry_after: Duration::from_secs(30) });
    stream.finish("The beginning of the answer, and its end.", origin.clone()).await.unwrap();
    f.flush().await;

    // Not a retry of the edit 30 s later: the missing tail, now.
    assert_eq!(f.adapter.chat(), vec![format!("The beginning of the answer{CURSOR}"), ", and its end.".to_string()]);
    let rows = f.rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].state, rows[0].attempts), (OutboundState::Sent, 1), "{rows:?}");
    assert_eq!(f.outcome(&origin).await, (InboundState::Finished, Some("answered".into())));
}

#[tokio::test(start_paused = true)]
async fn a_flood_limited_final_edit_waits_for_a_retry_on_other_platforms() {
    let f = fixture(caps(), streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("The beginning of the answer");
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.adapter.fail(Kind::Edit, 1, SendError::RateLimited { retry_after: Duration::from_secs(30) });
    stream.finish("The beginning of the answer, and its end.", Origin::session("s1")).await.unwrap();
    let queued = now_ms();
    f.flush().await;

    assert_eq!(f.adapter.chat(), vec![format!("The beginning of the answer{CURSOR}")], "nothing sent yet");
    let rows = f.rows().await;
    assert_eq!((rows[0].state, rows[0].attempts), (OutboundState::Pending, 1), "{rows:?}");
    assert!(rows[0].due_at >= queued + 29_000, "due after the platform's wait: {rows:?}");
}

#[tokio::test(start_paused = true)]
async fn silence_deletes_the_preview_and_sends_nothing() {
    let f = fixture(caps(), streaming());
    let mut origin = f.inbound("42:4").await;
    origin.outcome = Some("silent".into());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("Working on it, one moment please");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(f.adapter.chat().len(), 1, "the preview is shown");
    stream.finish("NO_REPLY", origin.clone()).await.unwrap();
    f.flush().await;
    assert!(f.adapter.chat().is_empty(), "{:?}", f.adapter.chat());
    let ops = f.adapter.ops();
    assert!(matches!(ops.last(), Some(OutboundOp::Delete { .. })), "{ops:?}");
    assert_eq!(sends(&ops).len(), 1, "only the preview was ever sent: {ops:?}");
    assert_eq!(f.outcome(&origin).await, (InboundState::Finished, Some("silent".into())));
}

#[tokio::test(start_paused = true)]
async fn a_marker_prefix_is_held_while_streaming() {
    let f = fixture(caps(), streaming());
    let origin = f.inbound("42:5").await;
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("[SILENT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(f.adapter.ops().is_empty(), "a possible marker is not shown");
    stream.push_delta("]");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.finish("[SILENT]", origin.clone()).await.unwrap();
    f.flush().await;
    assert!(f.adapter.ops().is_empty(), "{:?}", f.adapter.ops());
    assert!(f.rows().await.is_empty(), "nothing queued");
    assert_eq!(f.outcome(&origin).await.0, InboundState::Finished, "the message is done all the same");
}

#[tokio::test(start_paused = true)]
async fn a_held_marker_prefix_is_shown_once_it_cannot_be_one() {
    let f = fixture(caps(), streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("NO");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(f.adapter.ops().is_empty(), "\"NO\" may become NO_REPLY");
    stream.push_delta(" problem, here is the answer");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(f.adapter.chat(), vec![format!("NO problem, here is the answer{CURSOR}")]);
    stream.finish("NO problem, here is the answer", Origin::session("s1")).await.unwrap();
    f.flush().await;
    assert_eq!(f.adapter.chat(), vec!["NO problem, here is the answer".to_string()]);
}

/// The outbox schedules retries on the wall clock (its due times are stored and
/// survive restarts), so this one runs in real time: about a second for the first
/// backoff.
#[tokio::test]
async fn a_transient_failure_is_retried_by_the_outbox_worker() {
    let f = fixture(caps(), streaming());
    f.adapter.fail(Kind::Send, 1, SendError::Transient("502 bad gateway".into()));
    let before = now_ms();
    f.delivery.send_text(&target(ChatType::Dm), "Retried answer", Origin::session("s1")).await.unwrap();
    f.flush().await;
    assert!(f.adapter.chat().is_empty());
    let row = f.store.outbound(1).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboundState::Pending, 1), "{row:?}");
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("502")), "{row:?}");
    assert!(row.due_at >= before + 1000, "the first backoff is a second: {row:?}");

    let cancel = CancellationToken::new();
    let worker = tokio::spawn(f.delivery.run_outbox(cancel.clone()));
    for _ in 0..100 {
        if !f.adapter.chat().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    worker.await.unwrap();
    assert_eq!(f.adapter.chat(), vec!["Retried answer".to_string()]);
    assert_eq!(sends(&f.adapter.ops()).len(), 2, "one failed attempt, one success");
    let row = f.store.outbound(1).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboundState::Sent, 2));
}

#[tokio::test(start_paused = true)]
async fn a_send_in_flight_at_a_crash_is_never_sent_again() {
    let f = fixture(caps(), streaming());
    let item = |text: &str| NewOutbound {
        platform: "telegram".into(),
        account: None,
        session_id: None,
        target_json: serde_json::to_string(&target(ChatType::Dm)).unwrap(),
        op_json: serde_json::to_string(&OutboundOp::Send { text: text.into(), format: TextFormat::Plain }).unwrap(),
        not_before: None,
    };
    let ids = f.store.enqueue_outbound(vec![item("maybe delivered"), item("queued, never tried")], None).await.unwrap();
    // The previous process claimed the first row and died during the send.
    f.store.claim_outbound(ids[0]).await.unwrap().unwrap();

    let restarted = Delivery::new(f.adapter.clone(), f.store.clone(), streaming());
    assert_eq!(restarted.recover().await.unwrap(), 1);
    while restarted.flush().await.unwrap() {}
    assert_eq!(f.adapter.chat(), vec!["queued, never tried".to_string()]);
    assert_eq!(f.store.outbound(ids[0]).await.unwrap().unwrap().state, OutboundState::Unknown);
    assert_eq!(f.store.outbound(ids[1]).await.unwrap().unwrap().state, OutboundState::Sent);
    // A second recovery and pass send nothing more.
    assert_eq!(restarted.recover().await.unwrap(), 0);
    while restarted.flush().await.unwrap() {}
    assert_eq!(f.adapter.ops().len(), 1, "{:?}", f.adapter.ops());
}

#[tokio::test(start_paused = true)]
async fn a_deleted_preview_is_replaced_by_a_fresh_message() {
    let f = fixture(caps(), streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("Preview that someone deletes");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let preview_id = *f.adapter.chat.lock().unwrap().keys().next().unwrap();
    f.adapter.chat.lock().unwrap().clear();
    stream.finish("Preview that someone deletes, then the end.", Origin::session("s1")).await.unwrap();
    f.flush().await;
    assert_eq!(f.adapter.chat(), vec!["Preview that someone deletes, then the end.".to_string()]);
    let rows = f.rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state, OutboundState::Sent);
    let new_id = *f.adapter.chat.lock().unwrap().keys().next().unwrap();
    assert_ne!(new_id, preview_id);
    assert_eq!(rows[0].platform_message_id, Some(new_id.to_string()), "the row names the message that arrived");
}

#[tokio::test(start_paused = true)]
async fn an_old_preview_gets_a_fresh_final() {
    let f = fixture(caps(), StreamingConfig { fresh_final_after: Duration::from_secs(5), ..streaming() });
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("A slow answer begins here");
    tokio::time::sleep(Duration::from_secs(10)).await;
    stream.finish("A slow answer begins here and ends much later.", Origin::session("s1")).await.unwrap();
    f.flush().await;
    assert_eq!(f.adapter.chat(), vec!["A slow answer begins here and ends much later.".to_string()]);
    let ops = f.adapter.ops();
    assert!(edits(&ops).is_empty(), "the old preview is not edited: {ops:?}");
    assert!(matches!(ops.last(), Some(OutboundOp::Delete { .. })), "sent first, then the preview deleted: {ops:?}");

    // A preview younger than that is edited in place.
    let before = f.adapter.ops().len();
    let mut quick = f.delivery.stream(&target(ChatType::Group), "s1");
    quick.push_delta("A quick answer starts right here");
    tokio::time::sleep(Duration::from_secs(1)).await;
    quick.finish("A quick answer starts right here, done.", Origin::session("s1")).await.unwrap();
    f.flush().await;
    let later = &f.adapter.ops()[before..];
    assert_eq!(edits(later), vec!["A quick answer starts right here, done.".to_string()], "{later:?}");
    assert!(!later.iter().any(|op| matches!(op, OutboundOp::Delete { .. })), "{later:?}");
}

#[tokio::test(start_paused = true)]
async fn a_preview_past_the_safe_limit_continues_in_a_new_message() {
    let f = fixture(Capabilities { max_message_len: 700, length_unit: LengthUnit::Chars, ..caps() }, streaming());
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    let pieces: Vec<String> = (0..200).map(|i| format!("w{i:03} ")).collect();
    for batch in pieces.chunks(10) {
        stream.push_delta(&batch.concat());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let full = pieces.concat().trim_end().to_string();
    stream.finish(&full, Origin::session("s1")).await.unwrap();
    f.flush().await;

    let ops = f.adapter.ops();
    // Hermes's safe limit: max(500, 700 - len(cursor) - 100) = 598, plus the cursor.
    let previews: Vec<String> = sends(&ops).into_iter().chain(edits(&ops)).filter(|t| t.ends_with(CURSOR)).collect();
    assert!(previews.len() >= 2, "the preview grew first: {ops:?}");
    for preview in &previews {
        assert!(preview.chars().count() <= 598 + CURSOR.chars().count(), "{} chars", preview.chars().count());
    }
    // The preview message becomes the first part; the rest are new messages.
    assert!(matches!(&ops[0], OutboundOp::Send { .. }));
    assert!(ops.iter().any(|op| matches!(op, OutboundOp::Edit { text, .. } if text.ends_with(" (1/2)"))), "{ops:?}");
    let chat = f.adapter.chat();
    assert!(chat.len() >= 2, "{chat:?}");
    for message in &chat {
        assert!(message.chars().count() <= 700);
        assert!(!message.ends_with(CURSOR), "{message:?}");
    }
    assert_eq!(words(&chat.join(" ")), words(&full), "every word once, in order");
}

#[tokio::test(start_paused = true)]
async fn a_not_modified_final_edit_counts_as_delivered() {
    // No cursor (Hermes's buffer-only mode): the last preview already shows the final
    // text, so the platform answers the final edit with "not modified".
    let config = StreamingConfig { cursor: String::new(), ..streaming() };
    let f = fixture(caps(), config);
    let origin = f.inbound("42:6").await;
    let mut stream = f.delivery.stream(&target(ChatType::Group), "s1");
    stream.push_delta("An answer the platform already shows");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stream.finish("An answer the platform already shows", origin.clone()).await.unwrap();
    f.flush().await;
    let ops = f.adapter.ops();
    assert_eq!(edits(&ops), vec!["An answer the platform already shows".to_string()], "one final edit: {ops:?}");
    assert_eq!(sends(&ops).len(), 1, "no second message: {ops:?}");
    let rows = f.rows().await;
    assert_eq!((rows.len(), rows[0].state, rows[0].attempts), (1, OutboundState::Sent, 1), "{rows:?}");
    assert_eq!(f.adapter.chat(), vec!["An answer the platform already shows".to_string()]);
    assert_eq!(f.outcome(&origin).await, (InboundState::Finished, Some("answered".into())));
}
