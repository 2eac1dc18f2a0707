//! The search index is built in batches: commits leave a few new messages unindexed,
//! yet every search sees every message committed before it, and the index stays sound.

mod common;

use common::{exchange, fts_integrity_check, session, temp_store, usage};
use herald_store::{SearchMode, SearchQuery, SqliteStore, Store};

fn raw(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("herald.db")).expect("open raw")
}

/// Messages in the word index, and the highest message id recorded as indexed.
fn indexed(dir: &tempfile::TempDir) -> (i64, i64) {
    let conn = raw(dir);
    let rows = conn.query_row("SELECT count(*) FROM messages_fts_docsize", [], |r| r.get(0)).expect("count");
    let last = conn.query_row("SELECT last_id FROM search_progress", [], |r| r.get(0)).expect("progress");
    (rows, last)
}

fn integrity_check(dir: &tempfile::TempDir) {
    fts_integrity_check(&dir.path().join("herald.db"));
}

async fn search(store: &SqliteStore, text: &str, mode: SearchMode) -> Vec<i64> {
    let query = SearchQuery { text: text.into(), mode, limit: 100, session_id: None };
    store.search(query).await.expect("search").iter().map(|hit| hit.message_id).collect()
}

#[tokio::test]
async fn a_search_indexes_what_the_commits_left_out_and_finds_it() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let ids = store.append_turn(&s.id, exchange("where is the narwhal", "in the arctic"), usage(1, 1), None).await;
    let ids = ids.expect("append");
    assert_eq!(indexed(&dir), (0, 0), "one turn is below the backlog and stays out of the index");

    assert_eq!(search(&store, "narwhal", SearchMode::Words).await, vec![ids[0]]);
    assert_eq!(indexed(&dir), (2, ids[1]), "the search indexed both messages first");
    assert_eq!(search(&store, "rcti", SearchMode::Substring).await, vec![ids[1]]);
    integrity_check(&dir);
}

#[tokio::test]
async fn a_commit_indexes_once_the_backlog_is_full() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let turns = SqliteStore::SEARCH_INDEX_BACKLOG / 2;
    let mut last = 0;
    for turn in 0..turns {
        let ids = store.append_turn(&s.id, exchange(&format!("question {turn}"), "answer"), usage(1, 1), None).await;
        last = *ids.expect("append").last().expect("ids");
        if turn + 1 < turns {
            assert_eq!(indexed(&dir).0, 0, "after turn {turn}");
        }
    }
    assert_eq!(
        indexed(&dir),
        (SqliteStore::SEARCH_INDEX_BACKLOG, last),
        "the commit that filled the backlog indexed it"
    );
    integrity_check(&dir);
}

#[tokio::test]
async fn closing_the_store_indexes_the_rest() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let ids = store.append_turn(&s.id, exchange("a question", "an answer"), usage(1, 1), None).await;
    let ids = ids.expect("append");
    store.close().await;
    assert_eq!(indexed(&dir), (2, ids[1]));
    integrity_check(&dir);
}

#[tokio::test]
async fn deleting_messages_that_were_never_indexed_keeps_the_index_sound() {
    let (dir, store) = temp_store();
    let gone = session(&store, "gone").await;
    let kept = session(&store, "kept").await;
    store.append_turn(&gone.id, exchange("secret walrus", "noted"), usage(1, 1), None).await.expect("append");
    assert!(store.delete_session(&gone.id).await.expect("delete"));
    let ids = store.append_turn(&kept.id, exchange("public walrus", "noted"), usage(1, 1), None).await;
    let ids = ids.expect("append");

    assert_eq!(search(&store, "walrus", SearchMode::Words).await, vec![ids[0]]);
    assert!(search(&store, "secret", SearchMode::Auto).await.is_empty());
    integrity_check(&dir);
}
