//! Opening files: creation, permissions, reopening, and files we must not touch.

mod common;

use common::{exchange, session, usage};
use herald_store::{SqliteStore, Store, StoreError};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_wal_files_are_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("home").join("herald.db");
    let store = SqliteStore::open(&path).expect("open creates parent directories");
    let s = session(&store, "k").await;
    store.append_turn(&s.id, exchange("hello", "hi"), usage(1, 1), None).await.expect("append");

    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join("nested").join("home").join(format!("herald.db{suffix}"));
        assert!(companion.exists(), "{suffix} exists in WAL mode");
        assert_eq!(mode(&companion), 0o600, "{suffix}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_database_is_tightened_to_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    SqliteStore::open(&path).expect("create").close().await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("loosen");
    let _store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_rerun_migrations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    let store = SqliteStore::open(&path).expect("create");
    let s = session(&store, "agent:main:local:dm:1").await;
    store.append_turn(&s.id, exchange("remember the lighthouse", "I will"), usage(7, 3), None).await.expect("append");
    store.close().await;

    for _ in 0..3 {
        let store = SqliteStore::open(&path).expect("reopen");
        let record = store.session(&s.id).await.expect("get").expect("kept");
        assert_eq!(record.message_count, 2);
        assert_eq!(record.usage.total(), 10);
        assert_eq!(store.messages(&s.id).await.expect("messages").len(), 2);
        let hits = store
            .search(herald_store::SearchQuery {
                text: "lighthouse".into(),
                mode: herald_store::SearchMode::Words,
                limit: 5,
                session_id: None,
            })
            .await
            .expect("search");
        assert_eq!(hits.len(), 1);
        store.close().await;
    }

    let raw = rusqlite::Connection::open(&path).expect("raw");
    let version: u32 = raw.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    let journal: String = raw.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal");
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_others_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    let first = SqliteStore::open(&path).expect("first");
    let second = SqliteStore::open(&path).expect("second");
    let s = session(&first, "k").await;
    second.append_turn(&s.id, exchange("from the second", "ok"), usage(1, 1), None).await.expect("append via second");
    assert_eq!(first.messages(&s.id).await.expect("messages").len(), 2);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    let garbage: Vec<u8> = (0..8192_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, &garbage).expect("write garbage");
    #[cfg(unix)]
    let before_mode = mode(&path);

    let err = SqliteStore::open(&path).expect_err("must refuse");
    match &err {
        StoreError::Open { path: reported, reason } => {
            assert_eq!(reported, &path.display().to_string());
            assert!(reason.contains("not a SQLite database"), "{reason}");
            assert!(reason.contains("Move it aside"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert_eq!(std::fs::read(&path).expect("read back"), garbage, "content unchanged");
    #[cfg(unix)]
    assert_eq!(mode(&path), before_mode, "permissions unchanged");
    assert!(!dir.path().join("herald.db-wal").exists());
    assert!(!dir.path().join("herald.db-journal").exists());
}

#[tokio::test]
async fn a_file_with_a_sqlite_header_but_garbage_after_it_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..4096_u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8));
    std::fs::write(&path, &bytes).expect("write");
    let err = SqliteStore::open(&path).expect_err("must refuse");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("read back"), bytes);
}

#[tokio::test]
async fn a_database_from_a_newer_herald_is_refused_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    {
        let raw = rusqlite::Connection::open(&path).expect("raw");
        raw.execute_batch("CREATE TABLE future (x); INSERT INTO future VALUES (1);").expect("schema");
        raw.pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION + 5).expect("version");
    }
    let before = std::fs::read(&path).expect("read");

    let err = SqliteStore::open(&path).expect_err("too new");
    match err {
        StoreError::TooNew { path: reported, found, known } => {
            assert_eq!(reported, path.display().to_string());
            assert_eq!(found, SqliteStore::SCHEMA_VERSION + 5);
            assert_eq!(known, SqliteStore::SCHEMA_VERSION);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(std::fs::read(&path).expect("read"), before, "file unchanged");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let journal: String = raw.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal");
    assert_eq!(journal, "delete", "not switched to WAL");
}

#[tokio::test]
async fn an_empty_file_becomes_a_fresh_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.db");
    std::fs::write(&path, b"").expect("touch");
    let store = SqliteStore::open(&path).expect("open empty file");
    let s = session(&store, "k").await;
    assert!(store.session(&s.id).await.expect("get").is_some());
}

#[tokio::test]
async fn a_directory_at_the_path_is_an_open_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = SqliteStore::open(dir.path()).expect_err("a directory");
    assert!(matches!(&err, StoreError::Open { .. }), "{err}");
}
