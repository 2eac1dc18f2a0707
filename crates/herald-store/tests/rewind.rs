//! Rewinding a session (the gateway's `/undo` and `/retry`): the end of the transcript
//! goes inactive and every read stops seeing it.

mod common;

use common::{assistant_calling, call, exchange, session, temp_store, usage};
use herald_core::Message;
use herald_store::{SearchMode, SearchQuery, Store, StoreError};

fn words(text: &str) -> SearchQuery {
    SearchQuery { text: text.to_owned(), mode: SearchMode::Words, limit: 20, session_id: None }
}

fn substring(text: &str) -> SearchQuery {
    SearchQuery { text: text.to_owned(), mode: SearchMode::Substring, limit: 20, session_id: None }
}

#[tokio::test]
async fn rewind_hides_the_tail_from_messages_search_and_fork() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let first = store.append_turn(&s.id, exchange("apple question", "apple answer"), usage(10, 2), None).await.unwrap();
    let lookup = call("c1", "web_search", r#"{"query":"zebra facts"}"#);
    let second = store
        .append_turn(
            &s.id,
            vec![
                Message::user("zebra question").into(),
                assistant_calling("Looking it up.", vec![lookup.clone(), call("c2", "clock", "{}")]),
                Message::tool_result(&lookup, "zebras are striped").into(),
                Message::assistant("zebra answer").into(),
            ],
            usage(20, 4),
            Some(20),
        )
        .await
        .unwrap();
    let before = store.session(&s.id).await.unwrap().unwrap();
    assert_eq!((before.message_count, before.tool_call_count), (6, 2));
    // The user message, the call's arguments and the answer ("zebras" is another word).
    assert_eq!(store.search(words("zebra")).await.unwrap().len(), 3);
    assert_eq!(store.search(words("striped")).await.unwrap().len(), 1);

    // Undo the second turn: everything from its user message on.
    assert_eq!(store.rewind_session(&s.id, second[0]).await.unwrap(), 4);

    let ids: Vec<i64> = store.messages(&s.id).await.unwrap().iter().map(|m| m.id).collect();
    assert_eq!(ids, first);
    let after = store.session(&s.id).await.unwrap().unwrap();
    assert_eq!((after.message_count, after.tool_call_count), (2, 0));
    assert_eq!(after.updated_at, before.updated_at, "undo is not conversation activity");
    assert_eq!(after.usage, before.usage, "tokens were spent; they stay counted");
    assert_eq!(after.last_prompt_tokens, before.last_prompt_tokens);
    for query in [words("zebra"), substring("ebra"), words("web_search"), words("striped")] {
        assert!(store.search(query.clone()).await.unwrap().is_empty(), "{query:?}");
    }
    let apple: Vec<i64> = store.search(words("apple")).await.unwrap().iter().map(|h| h.message_id).collect();
    assert_eq!(apple.len(), 2);
    assert!(apple.iter().all(|id| first.contains(id)));

    // A fork copies only what is left.
    let child = store.fork_session(&s.id).await.unwrap();
    let copied: Vec<String> = store.messages(&child.id).await.unwrap().into_iter().map(|m| m.message.content).collect();
    assert_eq!(copied, ["apple question", "apple answer"]);
    assert_eq!((child.message_count, child.tool_call_count), (2, 0));
}

#[tokio::test]
async fn rewind_is_idempotent_and_appending_goes_on_after_it() {
    let (_dir, store) = temp_store();
    let s = session(&store, "k").await;
    let first = store.append_turn(&s.id, exchange("one", "uno"), usage(1, 1), None).await.unwrap();
    let second = store.append_turn(&s.id, exchange("two", "dos"), usage(1, 1), None).await.unwrap();

    // Only the assistant's last answer (`/retry` keeps the user message).
    assert_eq!(store.rewind_session(&s.id, second[1]).await.unwrap(), 1);
    assert_eq!(store.rewind_session(&s.id, second[1]).await.unwrap(), 0);
    assert_eq!(store.session(&s.id).await.unwrap().unwrap().message_count, 3);

    // A rewind from earlier reaches only what is still active.
    assert_eq!(store.rewind_session(&s.id, first[1]).await.unwrap(), 2);
    assert_eq!(store.rewind_session(&s.id, first[0]).await.unwrap(), 1);
    assert_eq!(store.rewind_session(&s.id, first[0]).await.unwrap(), 0);
    assert!(store.messages(&s.id).await.unwrap().is_empty());
    assert_eq!(store.session(&s.id).await.unwrap().unwrap().message_count, 0);

    // Past the end there is nothing to rewind.
    let third = store.append_turn(&s.id, exchange("three", "tres"), usage(1, 1), None).await.unwrap();
    assert_eq!(store.rewind_session(&s.id, third[1] + 1).await.unwrap(), 0);
    let contents: Vec<String> = store.messages(&s.id).await.unwrap().into_iter().map(|m| m.message.content).collect();
    assert_eq!(contents, ["three", "tres"]);
    assert_eq!(store.session(&s.id).await.unwrap().unwrap().message_count, 2);
}

#[tokio::test]
async fn rewind_touches_only_its_own_session() {
    let (_dir, store) = temp_store();
    let a = session(&store, "a").await;
    let b = session(&store, "b").await;
    let a_ids = store.append_turn(&a.id, exchange("alpha", "ack"), usage(1, 1), None).await.unwrap();
    let b_ids = store.append_turn(&b.id, exchange("beta", "bravo"), usage(1, 1), None).await.unwrap();
    assert!(b_ids[0] > a_ids[0]);
    // From a's first id on covers b's (later) ids too; only a's may go.
    assert_eq!(store.rewind_session(&a.id, a_ids[0]).await.unwrap(), 2);
    assert_eq!(store.messages(&b.id).await.unwrap().len(), 2);
    assert_eq!(store.session(&b.id).await.unwrap().unwrap().message_count, 2);
    assert_eq!(store.search(words("beta")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn rewinding_an_unknown_session_is_session_not_found() {
    let (_dir, store) = temp_store();
    let err = store.rewind_session("no-such-session", 1).await.expect_err("unknown");
    assert!(matches!(err, StoreError::SessionNotFound(ref id) if id == "no-such-session"), "{err:?}");
}
