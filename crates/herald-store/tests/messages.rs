//! Appending turns and reading transcripts back.

mod common;

use common::{assistant_calling, call, exchange, session, temp_store, usage};
use herald_core::{Message, Role, Usage};
use herald_store::{NewMessage, Store, StoreError};

#[tokio::test]
async fn a_turn_with_tool_calls_reads_back_exactly() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;

    let search = call("call_1", "web_search", r#"{"query":"weather in Wellington"}"#);
    let clock = call("call_2", "clock", "{}");
    let turn = vec![
        NewMessage {
            platform_message_id: Some("tg-501".into()),
            ..Message::user("What's the weather in Wellington?").into()
        },
        assistant_calling("Let me check.", vec![search.clone(), clock.clone()]),
        Message::tool_result(&search, "14°C and windy").into(),
        Message::tool_result(&clock, "09:30").into(),
        NewMessage {
            token_count: Some(12),
            finish_reason: Some("stop".into()),
            ..Message::assistant("It is 14°C and windy at 09:30.").into()
        },
    ];
    let ids = store.append_turn(&s.id, turn.clone(), usage(900, 40), Some(900)).await.expect("append");
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let stored = store.messages(&s.id).await.expect("messages");
    assert_eq!(stored.len(), 5);
    for ((stored, sent), id) in stored.iter().zip(&turn).zip(&ids) {
        assert_eq!(stored.id, *id);
        assert_eq!(stored.session_id, s.id);
        assert_eq!(stored.message, sent.message);
        assert_eq!(stored.token_count, sent.token_count);
        assert_eq!(stored.finish_reason, sent.finish_reason);
        assert_eq!(stored.platform_message_id, sent.platform_message_id);
        assert!(stored.timestamp >= s.created_at);
    }
    assert_eq!(stored[1].message.tool_calls, vec![search.clone(), clock]);
    assert_eq!(stored[2].message.role, Role::Tool);
    assert_eq!(stored[2].message.tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(stored[2].message.tool_name.as_deref(), Some("web_search"));
    assert_eq!(stored[4].token_count, Some(12));
    assert_eq!(stored[0].platform_message_id.as_deref(), Some("tg-501"));

    let after = store.session(&s.id).await.expect("get").expect("exists");
    assert_eq!(after.message_count, 5);
    assert_eq!(after.tool_call_count, 2);
    assert_eq!(after.usage.input_tokens, 900);
    assert_eq!(after.usage.output_tokens, 40);
    assert_eq!(after.last_prompt_tokens, 900);
    assert!(after.updated_at >= s.updated_at);
}

#[tokio::test]
async fn tool_calls_are_stored_as_a_json_array() {
    let (dir, store) = temp_store();
    let s = session(&store, "k").await;
    let turn = vec![assistant_calling("", vec![call("c1", "read_file", r#"{"path":"a.txt"}"#)])];
    let ids = store.append_turn(&s.id, turn, Usage::default(), None).await.expect("append");

    let raw = rusqlite::Connection::open(dir.path().join("herald.db")).expect("open raw");
    let json: String =
        raw.query_row("SELECT tool_calls FROM messages WHERE id = ?1", [ids[0]], |row| row.get(0)).expect("row");
    assert_eq!(json, r#"[{"id":"c1","name":"read_file","arguments":"{\"path\":\"a.txt\"}"}]"#);

    // Plain messages store NULL, not "[]".
    let ids = store.append_turn(&s.id, exchange("q", "a"), Usage::default(), None).await.expect("append");
    let stored: Option<String> =
        raw.query_row("SELECT tool_calls FROM messages WHERE id = ?1", [ids[1]], |row| row.get(0)).expect("row");
    assert_eq!(stored, None);
}

#[tokio::test]
async fn counters_sum_across_turns() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let turns = [
        (
            Usage {
                input_tokens: 100,
                output_tokens: 20,
                cache_read_tokens: 50,
                cache_write_tokens: 10,
                reasoning_tokens: 5,
            },
            1,
        ),
        (
            Usage {
                input_tokens: 250,
                output_tokens: 30,
                cache_read_tokens: 80,
                cache_write_tokens: 0,
                reasoning_tokens: 7,
            },
            3,
        ),
        // A turn whose usage is unknown must not reset the context fill to zero.
        (Usage { input_tokens: 0, output_tokens: 4, ..Usage::default() }, 0),
    ];
    for (usage, calls) in turns {
        let calls = (0..calls).map(|i| call(&format!("c{i}"), "tool", "{}")).collect();
        let turn = vec![Message::user("go").into(), assistant_calling("done", calls)];
        let fill = (usage.input_tokens > 0).then_some(usage.input_tokens);
        store.append_turn(&s.id, turn, usage, fill).await.expect("append");
    }
    let after = store.session(&s.id).await.expect("get").expect("exists");
    assert_eq!(
        after.usage,
        Usage {
            input_tokens: 350,
            output_tokens: 54,
            cache_read_tokens: 130,
            cache_write_tokens: 10,
            reasoning_tokens: 12
        }
    );
    assert_eq!(after.message_count, 6);
    assert_eq!(after.tool_call_count, 4);
    assert_eq!(after.last_prompt_tokens, 250);
}

#[tokio::test]
async fn only_assistant_tool_calls_are_counted() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let mut odd = Message::user("user text that somehow carries a call");
    odd.tool_calls = vec![call("x", "y", "{}")];
    store.append_turn(&s.id, vec![odd.into()], Usage::default(), None).await.expect("append");
    assert_eq!(store.session(&s.id).await.expect("get").expect("exists").tool_call_count, 0);
}

#[tokio::test]
async fn unknown_sessions_are_reported_and_nothing_is_written() {
    let (_dir, store) = temp_store();
    let err = store.append_turn("missing", exchange("q", "a"), usage(1, 1), None).await.expect_err("unknown");
    assert!(matches!(&err, StoreError::SessionNotFound(id) if id == "missing"), "{err}");
    assert!(matches!(store.messages("missing").await, Err(StoreError::SessionNotFound(_))));

    let s = session(&store, "k").await;
    assert!(store.messages(&s.id).await.expect("empty transcript").is_empty());
}

#[tokio::test]
async fn transcripts_are_per_session_and_oldest_first() {
    let (_dir, store) = temp_store();
    let a = session(&store, "a").await;
    let b = session(&store, "b").await;
    for i in 0..5 {
        store.append_turn(&a.id, exchange(&format!("a-q{i}"), &format!("a-a{i}")), usage(1, 1), None).await.expect("a");
        store.append_turn(&b.id, exchange(&format!("b-q{i}"), &format!("b-a{i}")), usage(1, 1), None).await.expect("b");
    }
    let texts: Vec<String> = store.messages(&a.id).await.expect("a").into_iter().map(|m| m.message.content).collect();
    let expected: Vec<String> = (0..5).flat_map(|i| [format!("a-q{i}"), format!("a-a{i}")]).collect();
    assert_eq!(texts, expected);
    assert_eq!(store.messages(&b.id).await.expect("b").len(), 10);
}

#[tokio::test]
async fn inactive_messages_are_not_read_back() {
    let (dir, store) = temp_store();
    let s = session(&store, "k").await;
    let ids = store.append_turn(&s.id, exchange("keep", "undo me"), usage(1, 1), None).await.expect("append");
    // `/undo` soft-deletes; there is no API for it yet, so flip the flag directly.
    let raw = rusqlite::Connection::open(dir.path().join("herald.db")).expect("open raw");
    raw.execute("UPDATE messages SET active = 0 WHERE id = ?1", [ids[1]]).expect("deactivate");
    let left: Vec<String> =
        store.messages(&s.id).await.expect("messages").into_iter().map(|m| m.message.content).collect();
    assert_eq!(left, ["keep"]);
}

#[tokio::test]
async fn an_empty_turn_only_adds_usage() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let ids = store.append_turn(&s.id, Vec::new(), usage(10, 3), None).await.expect("append");
    assert!(ids.is_empty());
    let after = store.session(&s.id).await.expect("get").expect("exists");
    assert_eq!(after.message_count, 0);
    assert_eq!(after.usage.total(), 13);
}
