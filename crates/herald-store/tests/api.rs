//! What the API server needs from the store: sessions with chosen ids, turns opened in
//! one write, deleting and forking sessions, paging, and stored responses.

mod common;

use std::time::Duration;

use common::{assistant_calling, call, exchange, new_session, session, temp_store, usage};
use herald_core::{Message, Role, Usage};
use herald_store::{
    NewSession, SearchMode, SearchQuery, SessionListQuery, SqliteOptions, SqliteStore, Store, StoreError,
};

fn api_session(id: &str) -> NewSession {
    NewSession {
        id: Some(id.to_owned()),
        key: Some(id.to_owned()),
        platform: "api_server".into(),
        system_prompt: Some("Be brief.".into()),
        ..NewSession::default()
    }
}

async fn search_count(store: &SqliteStore, text: &str) -> usize {
    let query = SearchQuery { text: text.into(), mode: SearchMode::Auto, limit: 50, session_id: None };
    store.search(query).await.expect("search").len()
}

#[tokio::test]
async fn a_session_can_be_created_with_a_chosen_id_once() {
    let (_dir, store) = temp_store();
    let created = store.create_session(api_session("api-0123456789abcdef")).await.expect("create");
    assert_eq!(created.id, "api-0123456789abcdef");
    assert_eq!(created.platform, "api_server");
    assert_eq!(created.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!(store.session("api-0123456789abcdef").await.expect("get"), Some(created));

    let err = store.create_session(api_session("api-0123456789abcdef")).await.expect_err("duplicate");
    assert!(matches!(&err, StoreError::SessionExists(id) if id == "api-0123456789abcdef"), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");

    let hermes_style = store.create_session(api_session("api_1700000000_deadbeef")).await.expect("create");
    assert_eq!(hermes_style.id, "api_1700000000_deadbeef");
}

#[tokio::test]
async fn unusable_ids_are_refused_and_nothing_is_stored() {
    let (_dir, store) = temp_store();
    let long = "x".repeat(257);
    for bad in ["../escape", "a/b", "a\\b", "C:drive", "", "new\nline", long.as_str()] {
        let err = store.create_session(api_session(bad)).await.expect_err(bad);
        assert!(matches!(err, StoreError::InvalidInput(_)), "{bad:?}: {err}");
        let err = store.open_turn(api_session(bad), vec![Message::user("hi").into()]).await.expect_err(bad);
        assert!(matches!(err, StoreError::InvalidInput(_)), "{bad:?}: {err}");
    }
    assert!(store.create_session(api_session(&"x".repeat(256))).await.is_ok(), "256 characters are allowed");
    let listed = store.list_sessions(SessionListQuery::default()).await.expect("list");
    assert_eq!(listed.sessions.len(), 1);
    assert!(herald_store::check_session_id("api-ok").is_ok());
}

#[tokio::test]
async fn open_turn_creates_on_first_use_then_appends() {
    let (_dir, store) = temp_store();
    let first = store.open_turn(api_session("api-a"), vec![Message::user("one").into()]).await.expect("first");
    assert!(first.created);
    assert_eq!(first.session.id, "api-a");
    assert_eq!(first.session.key.as_deref(), Some("api-a"));
    assert_eq!(first.session.message_count, 1);
    assert_eq!(first.message_ids.len(), 1);

    // On later turns the creation fields are ignored.
    let later = NewSession { title: Some("ignored".into()), ..api_session("api-a") };
    let second = store.open_turn(later, vec![Message::user("two").into()]).await.expect("second");
    assert!(!second.created);
    assert_eq!(second.session.message_count, 2);
    assert_eq!(second.session.title, None);
    assert!(second.message_ids[0] > first.message_ids[0]);

    let texts: Vec<String> =
        store.messages("api-a").await.expect("messages").into_iter().map(|m| m.message.content).collect();
    assert_eq!(texts, ["one", "two"]);

    let no_id = NewSession { id: None, ..api_session("x") };
    assert!(matches!(store.open_turn(no_id, Vec::new()).await, Err(StoreError::InvalidInput(_))));
}

#[tokio::test]
async fn append_turn_sets_the_context_fill_only_when_given() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    store.append_turn(&s.id, exchange("q", "a"), usage(500, 10), Some(320)).await.expect("append");
    assert_eq!(store.session(&s.id).await.expect("get").expect("exists").last_prompt_tokens, 320);
    store.append_turn(&s.id, exchange("q", "a"), usage(900, 10), None).await.expect("append");
    let after = store.session(&s.id).await.expect("get").expect("exists");
    assert_eq!(after.last_prompt_tokens, 320, "None leaves it alone");
    assert_eq!(after.usage.input_tokens, 1400);
}

#[tokio::test]
async fn delete_removes_messages_and_search_entries_and_orphans_children() {
    let (_dir, store) = temp_store();
    let doomed = session(&store, "k").await;
    store.append_turn(&doomed.id, exchange("the zanzibar plan", "noted"), usage(1, 1), None).await.expect("append");
    let child = store
        .create_session(NewSession { parent_session_id: Some(doomed.id.clone()), ..new_session("k", "telegram") })
        .await
        .expect("child");
    let other = session(&store, "other").await;
    store.append_turn(&other.id, exchange("zanzibar again", "ok"), usage(1, 1), None).await.expect("append");
    assert_eq!(search_count(&store, "zanzibar").await, 2);

    assert!(store.delete_session(&doomed.id).await.expect("delete"));
    assert_eq!(store.session(&doomed.id).await.expect("get"), None);
    assert!(matches!(store.messages(&doomed.id).await, Err(StoreError::SessionNotFound(_))));
    assert_eq!(search_count(&store, "zanzibar").await, 1, "the deleted session's messages left the index");
    assert_eq!(search_count(&store, "zanz").await, 1, "and the trigram index");
    let orphan = store.session(&child.id).await.expect("get").expect("the child stays");
    assert_eq!(orphan.parent_session_id, None);
    assert_eq!(store.messages(&other.id).await.expect("messages").len(), 2);

    assert!(!store.delete_session(&doomed.id).await.expect("second delete"), "nothing left to delete");
}

#[tokio::test]
async fn fork_ends_the_source_and_copies_its_active_messages() {
    let (dir, store) = temp_store();
    let source = store.create_session(api_session("api-src")).await.expect("create");
    let calls = vec![call("c1", "clock", "{}"), call("c2", "clock", "{}")];
    let turn = vec![
        Message::user("what time?").into(),
        assistant_calling("", calls.clone()),
        Message::tool_result(&calls[0], "09:00").into(),
        Message::tool_result(&calls[1], "09:00").into(),
        Message::assistant("nine").into(),
    ];
    store.append_turn(&source.id, turn, usage(40, 5), Some(40)).await.expect("append");
    let undone = store.append_turn(&source.id, exchange("undo me", "gone"), usage(1, 1), None).await.expect("append");
    let raw = rusqlite::Connection::open(dir.path().join("herald.db")).expect("raw");
    for id in &undone {
        raw.execute("UPDATE messages SET active = 0 WHERE id = ?1", [id]).expect("soft-delete");
    }

    let child = store.fork_session("api-src").await.expect("fork");
    assert_ne!(child.id, "api-src");
    assert_eq!(child.parent_session_id.as_deref(), Some("api-src"));
    assert_eq!(child.platform, "api_server");
    assert_eq!(child.key.as_deref(), Some("api-src"));
    assert_eq!(child.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!(child.ended_at, None);
    assert_eq!(child.message_count, 5);
    assert_eq!(child.tool_call_count, 2);
    assert_eq!(child.usage, Usage::default());

    let ended = store.session("api-src").await.expect("get").expect("exists");
    assert_eq!(ended.end_reason.as_deref(), Some("branched"));
    assert!(ended.ended_at.is_some());

    let original = store.messages("api-src").await.expect("messages");
    let copied = store.messages(&child.id).await.expect("messages");
    assert_eq!(copied.len(), 5);
    for (copy, orig) in copied.iter().zip(&original) {
        assert_eq!(copy.message, orig.message);
        assert_eq!(copy.timestamp, orig.timestamp);
        assert_ne!(copy.id, orig.id);
    }
    assert_eq!(copied[1].message.role, Role::Assistant);
    assert_eq!(copied[1].message.tool_calls, calls);

    assert!(matches!(store.fork_session("missing").await, Err(StoreError::SessionNotFound(_))));
}

#[tokio::test]
async fn listing_pages_and_hides_children_on_request() {
    let (_dir, store) = temp_store();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(store.create_session(api_session(&format!("api-{i}"))).await.expect("create").id);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let fork = store.fork_session("api-0").await.expect("fork");
    store.create_session(new_session("tg", "telegram")).await.expect("telegram");

    let page =
        |limit, offset| SessionListQuery { limit, offset, platform: Some("api_server".into()), include_children: true };
    let first = store.list_sessions(page(2, 0)).await.expect("first page");
    assert_eq!(first.sessions.len(), 2);
    assert!(first.has_more);
    let last = store.list_sessions(page(2, 4)).await.expect("last page");
    assert_eq!(last.sessions.len(), 2, "five sessions and a fork");
    assert!(!last.has_more);
    let exact = store.list_sessions(page(6, 0)).await.expect("exactly all");
    assert_eq!(exact.sessions.len(), 6);
    assert!(!exact.has_more);
    assert!(exact.sessions.iter().all(|s| s.platform == "api_server"));

    let roots = store
        .list_sessions(SessionListQuery { include_children: false, ..page(50, 0) })
        .await
        .expect("without children");
    assert_eq!(roots.sessions.len(), 5);
    assert!(roots.sessions.iter().all(|s| s.id != fork.id));

    let everything = store.list_sessions(SessionListQuery::default()).await.expect("all");
    assert_eq!(everything.sessions.len(), 7);
}

#[tokio::test]
async fn responses_are_stored_read_deleted_and_chained_by_conversation() {
    let (_dir, store) = temp_store();
    assert_eq!(store.response("resp_1").await.expect("get"), None);
    store.put_response("resp_1", r#"{"id":"resp_1","n":1}"#.into(), Some("trip")).await.expect("put");
    assert_eq!(store.response("resp_1").await.expect("get").as_deref(), Some(r#"{"id":"resp_1","n":1}"#));
    assert_eq!(store.conversation_head("trip").await.expect("head").as_deref(), Some("resp_1"));

    store.put_response("resp_2", r#"{"id":"resp_2"}"#.into(), Some("trip")).await.expect("put");
    assert_eq!(store.conversation_head("trip").await.expect("head").as_deref(), Some("resp_2"));
    assert_eq!(store.conversation_head("other").await.expect("head"), None);

    // Replacing keeps one row.
    store.put_response("resp_1", r#"{"id":"resp_1","n":2}"#.into(), None).await.expect("replace");
    assert_eq!(store.response("resp_1").await.expect("get").as_deref(), Some(r#"{"id":"resp_1","n":2}"#));

    assert!(store.delete_response("resp_2").await.expect("delete"));
    assert!(!store.delete_response("resp_2").await.expect("delete again"));
    assert_eq!(store.response("resp_2").await.expect("get"), None);
    assert_eq!(store.conversation_head("trip").await.expect("head"), None, "the head went with its response");

    let err = store.put_response("resp_bad", "{not json".into(), None).await.expect_err("bad json");
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert!(matches!(store.put_response(" ", "{}".into(), None).await, Err(StoreError::InvalidInput(_))));
}

#[tokio::test]
async fn the_least_recently_used_responses_are_evicted_beyond_the_maximum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = SqliteOptions::default();
    options.max_responses = 3;
    let store = SqliteStore::open_with(&dir.path().join("herald.db"), options).expect("open");

    for i in 1..=3 {
        store.put_response(&format!("r{i}"), "{}".into(), Some(&format!("c{i}"))).await.expect("put");
    }
    // Reading r1 makes r2 the least recently used, even within the same millisecond.
    assert!(store.response("r1").await.expect("get").is_some());
    store.put_response("r4", "{}".into(), None).await.expect("put r4");
    assert_eq!(store.response("r2").await.expect("get"), None, "r2 was evicted");
    assert_eq!(store.conversation_head("c2").await.expect("head"), None, "with its conversation head");
    for kept in ["r1", "r3", "r4"] {
        assert!(store.response(kept).await.expect("get").is_some(), "{kept} is kept");
    }
    assert_eq!(store.conversation_head("c1").await.expect("head").as_deref(), Some("r1"));

    // Many at once: still only three kept, the newest.
    for i in 10..40 {
        store.put_response(&format!("r{i}"), "{}".into(), None).await.expect("put");
    }
    let kept: Vec<bool> = present(&store, &["r37", "r38", "r39", "r1", "r4"]).await;
    assert_eq!(kept, [true, true, true, false, false]);
}

async fn present(store: &SqliteStore, ids: &[&str]) -> Vec<bool> {
    let mut out = Vec::new();
    for id in ids {
        out.push(store.response(id).await.expect("get").is_some());
    }
    out
}

#[tokio::test]
async fn the_default_keeps_a_thousand_responses() {
    assert_eq!(SqliteOptions::default().max_responses, 1000);
}
