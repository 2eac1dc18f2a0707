//! Helpers shared by the integration tests.
#![allow(dead_code)]

use herald_core::{Message, ToolCall, Usage};
use herald_store::{NewMessage, NewSession, SessionRecord, SqliteStore, Store};
use tempfile::TempDir;

/// A store in a fresh temporary directory; keep the `TempDir` alive while using it.
pub fn temp_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("herald.db")).expect("open store");
    (dir, store)
}

pub fn new_session(key: &str, platform: &str) -> NewSession {
    NewSession { key: Some(key.to_owned()), platform: platform.to_owned(), ..NewSession::default() }
}

pub async fn session(store: &SqliteStore, key: &str) -> SessionRecord {
    store.create_session(new_session(key, "telegram")).await.expect("create session")
}

pub fn usage(input: u64, output: u64) -> Usage {
    Usage { input_tokens: input, output_tokens: output, ..Usage::default() }
}

/// A user message and the assistant's plain answer.
pub fn exchange(question: &str, answer: &str) -> Vec<NewMessage> {
    vec![Message::user(question).into(), Message::assistant(answer).into()]
}

pub fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.to_owned(), name: name.to_owned(), arguments: arguments.to_owned() }
}

pub fn assistant_calling(content: &str, calls: Vec<ToolCall>) -> NewMessage {
    let mut message = Message::assistant(content);
    message.tool_calls = calls;
    message.into()
}

/// Fails unless both search indexes of the store at `db` agree with the text they were
/// given (FTS5's own check).
pub fn fts_integrity_check(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(SqliteStore::search_index_path(db)).expect("open raw");
    for table in ["messages_fts", "messages_fts_trigram"] {
        conn.execute(&format!("INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)"), [])
            .unwrap_or_else(|e| panic!("{table} out of sync: {e}"));
    }
}
