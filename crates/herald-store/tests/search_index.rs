//! The search index lives in its own file and follows the commits a little behind, yet
//! every search sees every message committed before it, deletes and edits reach it, and
//! a missing, damaged or mismatched index file is rebuilt from the messages.

mod common;

use std::time::{Duration, Instant};

use common::{exchange, fts_integrity_check, session, temp_store, usage};
use herald_store::{SearchMode, SearchQuery, SqliteStore, Store};

fn db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("herald.db")
}

/// Messages in the word index, and the highest message id recorded as indexed.
fn indexed(dir: &tempfile::TempDir) -> (i64, i64) {
    let conn = rusqlite::Connection::open(SqliteStore::search_index_path(&db(dir))).expect("open index");
    let rows = conn.query_row("SELECT count(*) FROM messages_fts_docsize", [], |r| r.get(0)).expect("count");
    let last = conn.query_row("SELECT last_id FROM progress", [], |r| r.get(0)).expect("progress");
    (rows, last)
}

/// Every text the index holds a copy of.
fn index_texts(dir: &tempfile::TempDir) -> Vec<String> {
    let conn = rusqlite::Connection::open(SqliteStore::search_index_path(&db(dir))).expect("open index");
    let mut statement = conn.prepare("SELECT content FROM search_text ORDER BY id").expect("prepare");
    statement.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
}

async fn search(store: &SqliteStore, text: &str, mode: SearchMode) -> Vec<i64> {
    let query = SearchQuery { text: text.into(), mode, limit: 100, session_id: None };
    store.search(query).await.expect("search").iter().map(|hit| hit.message_id).collect()
}

#[tokio::test]
async fn a_search_right_after_a_commit_finds_it() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    for round in 0..20 {
        let ids =
            store.append_turn(&s.id, exchange(&format!("narwhal{round} here"), "arctic"), usage(1, 1), None).await;
        let ids = ids.expect("append");
        assert_eq!(search(&store, &format!("narwhal{round}"), SearchMode::Words).await, vec![ids[0]], "round {round}");
        assert_eq!(search(&store, &format!("rwhal{round}"), SearchMode::Substring).await, vec![ids[0]]);
    }
    fts_integrity_check(&db(&dir));
}

#[tokio::test]
async fn the_index_catches_up_on_its_own() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let ids = store.append_turn(&s.id, exchange("a question", "an answer"), usage(1, 1), None).await.expect("append");
    let deadline = Instant::now() + Duration::from_secs(10);
    // The index file appears with the thread's first catch-up; until then, nothing.
    let look = || std::panic::catch_unwind(|| indexed(&dir)).ok();
    while look() != Some((2, ids[1])) {
        assert!(Instant::now() < deadline, "not indexed after 10 s: {:?}", look());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn closing_the_store_indexes_the_rest() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let ids = store.append_turn(&s.id, exchange("a question", "an answer"), usage(1, 1), None).await;
    let ids = ids.expect("append");
    store.close().await;
    assert_eq!(indexed(&dir), (2, ids[1]));
    fts_integrity_check(&db(&dir));
}

#[tokio::test]
async fn a_deleted_session_leaves_the_index_with_its_text() {
    let (dir, store) = temp_store();
    let gone = session(&store, "gone").await;
    let kept = session(&store, "kept").await;
    store.append_turn(&gone.id, exchange("secret walrus", "noted"), usage(1, 1), None).await.expect("append");
    // Indexed first, then deleted: the index must forget it.
    assert_eq!(search(&store, "secret", SearchMode::Words).await.len(), 1);
    assert!(store.delete_session(&gone.id).await.expect("delete"));
    // Never indexed, then deleted.
    let never = session(&store, "never").await;
    store.append_turn(&never.id, exchange("hidden walrus", "noted"), usage(1, 1), None).await.expect("append");
    assert!(store.delete_session(&never.id).await.expect("delete"));
    let ids = store.append_turn(&kept.id, exchange("public walrus", "noted"), usage(1, 1), None).await;
    let ids = ids.expect("append");

    assert_eq!(search(&store, "walrus", SearchMode::Words).await, vec![ids[0]]);
    assert!(search(&store, "secret", SearchMode::Auto).await.is_empty());
    assert!(search(&store, "hidden", SearchMode::Auto).await.is_empty());
    let texts = index_texts(&dir);
    assert!(texts.iter().all(|t| !t.contains("secret") && !t.contains("hidden")), "{texts:?}");
    fts_integrity_check(&db(&dir));
    store.close().await;
    let raw = rusqlite::Connection::open(db(&dir)).expect("open store");
    let log: i64 = raw.query_row("SELECT count(*) FROM search_changes", [], |r| r.get(0)).expect("count");
    assert_eq!(log, 0, "the applied change log is pruned");
}

#[tokio::test]
async fn an_edited_message_is_found_by_its_new_text() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let ids = store.append_turn(&s.id, exchange("old wording", "reply"), usage(1, 1), None).await.expect("append");
    assert_eq!(search(&store, "wording", SearchMode::Words).await, vec![ids[0]]);
    // Another program (or a later herald feature) edits the text in place.
    let raw = rusqlite::Connection::open(db(&dir)).expect("open store");
    raw.execute("UPDATE messages SET content = 'new phrasing' WHERE id = ?1", [ids[0]]).expect("edit");
    assert_eq!(search(&store, "phrasing", SearchMode::Words).await, vec![ids[0]]);
    assert!(search(&store, "wording", SearchMode::Auto).await.is_empty());
    fts_integrity_check(&db(&dir));
}

#[tokio::test]
async fn a_missing_or_damaged_index_file_is_rebuilt_from_the_messages() {
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    let ids = store.append_turn(&s.id, exchange("zebra crossing", "noted"), usage(1, 1), None).await.expect("append");
    store.close().await;
    let index = SqliteStore::search_index_path(&db(&dir));

    std::fs::remove_file(&index).expect("delete the index");
    let store = SqliteStore::open(&db(&dir)).expect("reopen");
    assert_eq!(search(&store, "zebra", SearchMode::Words).await, vec![ids[0]]);
    store.close().await;

    std::fs::write(&index, b"not a database at all, just some bytes that are long enough").expect("damage");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
    }
    let store = SqliteStore::open(&db(&dir)).expect("reopen over a damaged index");
    assert_eq!(search(&store, "crossing", SearchMode::Words).await, vec![ids[0]]);
    store.close().await;

    // An index from another schema version is not trusted either.
    rusqlite::Connection::open(&index).expect("open").pragma_update(None, "user_version", 99).expect("version");
    let store = SqliteStore::open(&db(&dir)).expect("reopen over a foreign index");
    assert_eq!(search(&store, "zebra", SearchMode::Substring).await, vec![ids[0]]);
    fts_integrity_check(&db(&dir));
}

#[cfg(unix)]
#[tokio::test]
async fn the_index_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, store) = temp_store();
    let s = session(&store, "s").await;
    store.append_turn(&s.id, exchange("private words", "noted"), usage(1, 1), None).await.expect("append");
    search(&store, "private", SearchMode::Words).await;
    let index = SqliteStore::search_index_path(&db(&dir));
    let mode = std::fs::metadata(&index).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", index.display());
}

#[tokio::test]
async fn an_index_that_cannot_open_fails_searches_by_name_and_spares_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory where the index file belongs: it can be neither opened nor removed.
    std::fs::create_dir(SqliteStore::search_index_path(&db(&dir))).expect("mkdir");
    std::fs::write(SqliteStore::search_index_path(&db(&dir)).join("keep"), b"x").expect("fill");
    let store = SqliteStore::open(&db(&dir)).expect("the store opens regardless");
    let s = session(&store, "s").await;
    store.append_turn(&s.id, exchange("still saved", "yes"), usage(1, 1), None).await.expect("append");
    let query = SearchQuery { text: "saved".into(), mode: SearchMode::Words, limit: 10, session_id: None };
    let error = store.search(query).await.expect_err("no index, no search").to_string();
    assert!(error.contains("herald.db-search"), "{error}");
    assert_eq!(store.messages(&s.id).await.expect("messages").len(), 2);
}
