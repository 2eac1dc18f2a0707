//! Many writers at once: batching must not lose, mix up or poison writes.

mod common;

use std::sync::Arc;

use common::{assistant_calling, call, exchange, session, temp_store, usage};
use herald_core::Message;
use herald_store::{SearchMode, SearchQuery, Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_writers_lose_nothing() {
    const TASKS: usize = 64;
    const TURNS: usize = 25;
    let (_dir, store) = temp_store();
    let store = Arc::new(store);

    let mut sessions = Vec::new();
    for i in 0..TASKS {
        sessions.push(session(&store, &format!("agent:main:local:dm:{i}")).await.id);
    }
    let mut tasks = Vec::new();
    for (task, session_id) in sessions.iter().cloned().enumerate() {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for turn in 0..TURNS {
                let calls = vec![call(&format!("c{task}-{turn}"), "lookup", "{}")];
                let messages = vec![
                    Message::user(format!("task{task} turn{turn} question")).into(),
                    assistant_calling(&format!("task{task} turn{turn} answer"), calls),
                ];
                ids.extend(store.append_turn(&session_id, messages, usage(100, 10), Some(100)).await.expect("append"));
            }
            ids
        }));
    }
    let mut all_ids = Vec::new();
    for task in tasks {
        all_ids.extend(task.await.expect("task"));
    }
    all_ids.sort_unstable();
    all_ids.dedup();
    assert_eq!(all_ids.len(), TASKS * TURNS * 2, "every message got its own id");

    for (task, session_id) in sessions.iter().enumerate() {
        let record = store.session(session_id).await.expect("get").expect("exists");
        assert_eq!(record.message_count, (TURNS * 2) as u64);
        assert_eq!(record.tool_call_count, TURNS as u64);
        assert_eq!(record.usage.input_tokens, 100 * TURNS as u64);
        assert_eq!(record.usage.output_tokens, 10 * TURNS as u64);
        assert_eq!(record.last_prompt_tokens, 100);

        let transcript = store.messages(session_id).await.expect("messages");
        let expected: Vec<String> = (0..TURNS)
            .flat_map(|turn| [format!("task{task} turn{turn} question"), format!("task{task} turn{turn} answer")])
            .collect();
        let texts: Vec<String> = transcript.into_iter().map(|m| m.message.content).collect();
        assert_eq!(texts, expected, "session of task {task} holds its own turns, in order");
    }

    let hits = store
        .search(SearchQuery { text: "task17".into(), mode: SearchMode::Words, limit: 1000, session_id: None })
        .await
        .expect("search");
    assert_eq!(hits.len(), TURNS * 2);

    let stats = store.writer_stats();
    // Searching costs the writer nothing: the index is kept by a thread of its own.
    assert_eq!(stats.writes, (TASKS + TASKS * TURNS) as u64, "session creations and appends");
    assert_eq!(stats.failed_batches, 0);
    assert!(stats.batches < stats.writes, "concurrent appends shared commits: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_in_a_batch_does_not_affect_the_others() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let real = session(&store, "real").await.id;

    // Interleave valid appends with appends to a missing session and invalid patches so
    // that they land in the same batches.
    let mut tasks = Vec::new();
    for i in 0..96 {
        let store = Arc::clone(&store);
        let real = real.clone();
        tasks.push(tokio::spawn(async move {
            match i % 3 {
                0 => store
                    .append_turn(&real, exchange(&format!("valid {i}"), "ok"), usage(2, 1), None)
                    .await
                    .map(|_| true),
                1 => store
                    .append_turn("no_such_session", exchange("lost", "lost"), usage(1000, 1000), None)
                    .await
                    .map(|_| true),
                _ => {
                    let patch = herald_store::SessionPatch {
                        model_override: Some(Some(r#"{"api_key":"sk-secret"}"#.into())),
                        ..Default::default()
                    };
                    store.update_session(&real, patch).await.map(|_| true)
                }
            }
        }));
    }
    let mut ok = 0;
    let mut not_found = 0;
    let mut invalid = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::SessionNotFound(id)) => {
                assert_eq!(id, "no_such_session");
                not_found += 1;
            }
            Err(StoreError::InvalidInput(_)) => invalid += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((ok, not_found, invalid), (32, 32, 32));

    let record = store.session(&real).await.expect("get").expect("exists");
    assert_eq!(record.message_count, 64);
    assert_eq!(record.usage.input_tokens, 64);
    assert_eq!(record.model_override, None);
    assert_eq!(store.messages(&real).await.expect("messages").len(), 64);
    assert!(
        store
            .search(SearchQuery { text: "lost".into(), mode: SearchMode::Auto, limit: 10, session_id: None })
            .await
            .expect("search")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_run_while_writes_are_queued() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let s = session(&store, "k").await.id;
    let writer = {
        let store = Arc::clone(&store);
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                store.append_turn(&s, exchange(&format!("q{i}"), "a"), usage(1, 1), None).await.expect("append");
            }
        })
    };
    // Reads see a consistent prefix: counts only grow and always match the transcript
    // length of a committed state.
    let mut last = 0;
    while !writer.is_finished() {
        let count = store.session(&s).await.expect("get").expect("exists").message_count;
        assert!(count >= last && count % 2 == 0, "{count} after {last}");
        last = count;
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    assert_eq!(store.messages(&s).await.expect("messages").len(), 400);
}
