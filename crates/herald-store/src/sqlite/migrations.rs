//! Numbered schema migrations, applied in order at open.
//!
//! The schema version lives in `PRAGMA user_version` because it is part of the file
//! header: it cannot drift from the schema the way a row in a table could, and an
//! older herald can read it without knowing any of our tables.
//!
//! Never edit a migration that has shipped; append a new one.

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// One step of the schema's history.
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first; versions are 1, 2, 3, ... without gaps.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "sessions, messages and full-text search", sql: V1_SESSIONS_MESSAGES_SEARCH },
    Migration { version: 2, name: "session system prompts and stored API responses", sql: V2_API_SERVER },
    Migration { version: 3, name: "search indexed once per commit", sql: V3_SEARCH_PER_COMMIT },
    Migration { version: 4, name: "gateway inbound log, outbox, adapter state and pairing", sql: V4_GATEWAY },
    Migration { version: 5, name: "search index moved to its own file", sql: V5_SEARCH_FILE },
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

// The search tables index a view rather than `messages` itself because what we index
// (content, tool name and tool-call JSON together, as Hermes does) is an expression,
// not a column. With the view as external content the text is stored once, and FTS5's
// `snippet()` reads exactly the text it indexed, so highlight offsets line up.
const V1_SESSIONS_MESSAGES_SEARCH: &str = r#"
CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY NOT NULL,
    session_key           TEXT,
    platform              TEXT NOT NULL,
    chat_type             TEXT,
    origin_json           TEXT,
    display_name          TEXT,
    title                 TEXT,
    model                 TEXT,
    model_override        TEXT,
    parent_session_id     TEXT REFERENCES sessions(id) ON DELETE SET NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    ended_at              INTEGER,
    end_reason            TEXT,
    message_count         INTEGER NOT NULL DEFAULT 0,
    tool_call_count       INTEGER NOT NULL DEFAULT 0,
    input_tokens          INTEGER NOT NULL DEFAULT 0,
    output_tokens         INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens    INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
    last_prompt_tokens    INTEGER NOT NULL DEFAULT 0,
    suspended             INTEGER NOT NULL DEFAULT 0,
    resume_pending        INTEGER NOT NULL DEFAULT 0,
    resume_reason         TEXT,
    last_resume_marked_at INTEGER,
    is_fresh_reset        INTEGER NOT NULL DEFAULT 0,
    was_auto_reset        INTEGER NOT NULL DEFAULT 0,
    auto_reset_reason     TEXT,
    reset_had_activity    INTEGER NOT NULL DEFAULT 0,
    expiry_finalized      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX sessions_by_key ON sessions(session_key, updated_at DESC);
CREATE INDEX sessions_by_updated ON sessions(updated_at DESC);
CREATE INDEX sessions_by_platform ON sessions(platform, updated_at DESC);
CREATE INDEX sessions_by_parent ON sessions(parent_session_id);

CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id          TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role                TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content             TEXT NOT NULL,
    tool_calls          TEXT,
    tool_call_id        TEXT,
    tool_name           TEXT,
    timestamp           INTEGER NOT NULL,
    token_count         INTEGER,
    finish_reason       TEXT,
    platform_message_id TEXT,
    active              INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX messages_by_session ON messages(session_id, active, id);

CREATE VIEW messages_search_text(id, content) AS
    SELECT id, content || ' ' || coalesce(tool_name, '') || ' ' || coalesce(tool_calls, '')
    FROM messages;

CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    content = 'messages_search_text',
    content_rowid = 'id'
);

CREATE VIRTUAL TABLE messages_fts_trigram USING fts5(
    content,
    content = 'messages_search_text',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (
        new.id,
        new.content || ' ' || coalesce(new.tool_name, '') || ' ' || coalesce(new.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(rowid, content) VALUES (
        new.id,
        new.content || ' ' || coalesce(new.tool_name, '') || ' ' || coalesce(new.tool_calls, '')
    );
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(messages_fts_trigram, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, tool_name, tool_calls ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(messages_fts_trigram, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
    INSERT INTO messages_fts(rowid, content) VALUES (
        new.id,
        new.content || ' ' || coalesce(new.tool_name, '') || ' ' || coalesce(new.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(rowid, content) VALUES (
        new.id,
        new.content || ' ' || coalesce(new.tool_name, '') || ' ' || coalesce(new.tool_calls, '')
    );
END;
"#;

// `accessed_at` orders the responses for eviction (least recently used first); the
// writer makes it strictly increasing, so two touches in one millisecond still order.
// `conversations.response_id` is not a foreign key: a conversation outlives nothing,
// its row is deleted together with the response it points at.
const V2_API_SERVER: &str = r#"
ALTER TABLE sessions ADD COLUMN system_prompt TEXT;

CREATE TABLE responses (
    id          TEXT PRIMARY KEY NOT NULL,
    data        TEXT NOT NULL,
    accessed_at INTEGER
);

CREATE INDEX responses_by_access ON responses(accessed_at);

CREATE TABLE conversations (
    name        TEXT PRIMARY KEY NOT NULL,
    response_id TEXT
);

CREATE INDEX conversations_by_response ON conversations(response_id);
"#;

// FTS5 flushes its pending index data at every statement savepoint, and SQLite opens one
// for each write statement inside a transaction, so an insert trigger made every write
// of a batch cost its own index segment (and the merges that follow). New messages are
// now indexed by one statement per index at the end of each batch, in the same
// transaction (`search::index_new_messages`). (Since then, commits index only once
// `search::INDEX_BACKLOG` messages are waiting, and every search first indexes the
// rest, so a search still sees every committed message.) `search_progress.last_id` is
// the highest message id indexed; the delete and update triggers leave rows above it alone, because telling FTS5 to
// delete a row it never indexed would corrupt an external-content index.
const V3_SEARCH_PER_COMMIT: &str = r#"
CREATE TABLE search_progress (last_id INTEGER NOT NULL);
INSERT INTO search_progress (last_id) SELECT coalesce(max(id), 0) FROM messages;

DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_delete;
DROP TRIGGER messages_search_update;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT last_id FROM search_progress) BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(messages_fts_trigram, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, tool_name, tool_calls ON messages
WHEN old.id <= (SELECT last_id FROM search_progress) BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(messages_fts_trigram, rowid, content) VALUES (
        'delete',
        old.id,
        old.content || ' ' || coalesce(old.tool_name, '') || ' ' || coalesce(old.tool_calls, '')
    );
    INSERT INTO messages_fts(rowid, content) VALUES (
        new.id,
        new.content || ' ' || coalesce(new.tool_name, '') || ' ' || coalesce(new.tool_calls, '')
    );
    INSERT INTO messages_fts_trigram(rowid, content) VALUES (
        new.id,
        new.content || ' ' || coalesce(new.tool_name, '') || ' ' || coalesce(new.tool_calls, '')
    );
END;
"#;

// The gateway's durable state.
//
// `inbound` is the durability point of every platform message: a row exists before the
// adapter advances its cursor, and the unique index on the platform's message identity
// makes a re-read copy a no-op. NULL accounts are compared as '' there, because a UNIQUE
// constraint treats every NULL as distinct; the store refuses '' as an account name.
// Finished rows are kept (they are what recognises a late duplicate); the partial index
// keeps the startup scan for unfinished ones small regardless.
//
// `outbox` holds every send. `due_at` 0 means "as soon as possible". A row goes
// pending -> in_flight (claimed, durable before the send) -> sent | pending (retry) |
// failed; a row found in_flight at startup becomes `unknown` and is never sent again.
//
// The pairing tables hold exactly what Hermes's pairing files hold: salted SHA-256
// hashes of codes (never the codes), approved users, the per-user request times and
// the per-platform failure counter and lockout.
const V4_GATEWAY: &str = r#"
CREATE TABLE inbound (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    platform     TEXT NOT NULL,
    account      TEXT,
    dedup_key    TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'recorded' CHECK (state IN ('recorded', 'started', 'finished')),
    session_id   TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    outcome      TEXT
);

CREATE UNIQUE INDEX inbound_identity ON inbound(platform, coalesce(account, ''), dedup_key);
CREATE INDEX inbound_unfinished ON inbound(platform, id) WHERE state != 'finished';
CREATE INDEX inbound_by_finished ON inbound(finished_at) WHERE state = 'finished';

CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    platform            TEXT NOT NULL,
    account             TEXT,
    session_id          TEXT,
    target_json         TEXT NOT NULL,
    op_json             TEXT NOT NULL,
    state               TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'in_flight', 'sent', 'failed', 'unknown')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    due_at              INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_error          TEXT,
    platform_message_id TEXT
);

CREATE INDEX outbox_pending ON outbox(platform, account, due_at) WHERE state = 'pending';
CREATE INDEX outbox_in_flight ON outbox(platform, account) WHERE state = 'in_flight';
CREATE INDEX outbox_by_updated ON outbox(updated_at) WHERE state IN ('sent', 'failed', 'unknown');

CREATE TABLE adapter_state (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;

CREATE TABLE pairing_pending (
    entry_id   TEXT PRIMARY KEY NOT NULL,
    platform   TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    salt       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    user_name  TEXT,
    created_at INTEGER NOT NULL
);

CREATE INDEX pairing_pending_by_platform ON pairing_pending(platform, created_at);

CREATE TABLE pairing_approved (
    platform    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_name   TEXT,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id)
) WITHOUT ROWID;

CREATE TABLE pairing_requests (
    platform     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id)
) WITHOUT ROWID;

CREATE TABLE pairing_lockouts (
    platform     TEXT PRIMARY KEY NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"#;

// FTS5's segment merges took 10 to 40 ms at unpredictable moments, and inside this
// database they held the one write lock, so every turn's write waited behind them. The
// index now lives in a file of its own (`indexer.rs`) and is rebuilt there from the
// messages. What it cannot see from the messages alone, deletes and edits, is logged in
// `search_changes` by these triggers; the index thread applies and prunes the log.
const V5_SEARCH_FILE: &str = r#"
DROP TRIGGER messages_search_delete;
DROP TRIGGER messages_search_update;
DROP TABLE messages_fts;
DROP TABLE messages_fts_trigram;
DROP TABLE search_progress;

CREATE TABLE search_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL
);

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO search_changes (message_id) VALUES (old.id);
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, tool_name, tool_calls ON messages BEGIN
    INSERT INTO search_changes (message_id) VALUES (old.id);
END;
"#;

/// The schema version recorded in the file header.
pub(crate) fn user_version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    let raw: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    // A negative version can only come from another program writing the header; it
    // is as unknown to us as a version from the future.
    Ok(u32::try_from(raw).unwrap_or(u32::MAX))
}

/// Brings the schema up to [`SCHEMA_VERSION`], one transaction per migration, so a
/// failure leaves the database at the last version that fully applied.
pub(crate) fn apply(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    for migration in MIGRATIONS {
        let failed = |reason: String| StoreError::Migration { version: migration.version, reason };

        // IMMEDIATE takes the write lock before the version is read, so two processes
        // opening the same file cannot both decide to run the same migration.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| failed(format!("cannot start a transaction: {e}")))?;
        let found = user_version(&tx).map_err(|e| failed(format!("cannot read the schema version: {e}")))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: path.to_owned(), found, known: SCHEMA_VERSION });
        }
        if found >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql).map_err(|e| failed(format!("{} ({e})", migration.name)))?;
        tx.pragma_update(None, "user_version", migration.version)
            .map_err(|e| failed(format!("cannot record the schema version: {e}")))?;
        tx.commit().map_err(|e| failed(format!("cannot commit: {e}")))?;
        tracing::info!(version = migration.version, name = migration.name, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "migration `{}`", migration.name);
        }
        assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
    }

    #[test]
    fn applies_to_an_empty_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        apply(&mut conn, ":memory:").expect("first apply");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        apply(&mut conn, ":memory:").expect("second apply");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);

        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN \
                 ('sessions', 'messages', 'messages_search_text', 'search_changes')",
                [],
                |row| row.get(0),
            )
            .expect("count tables");
        assert_eq!(tables, 4);
    }

    #[test]
    fn version_two_upgrades_a_version_one_database_in_place() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        let v1 = &MIGRATIONS[0];
        conn.execute_batch(v1.sql).expect("v1 schema");
        conn.pragma_update(None, "user_version", v1.version).expect("set version");
        conn.execute_batch(
            "INSERT INTO sessions(id, platform, created_at, updated_at) VALUES ('old', 'local', 0, 0);
             INSERT INTO messages(session_id, role, content, timestamp) VALUES ('old', 'user', 'kept', 0);",
        )
        .expect("seed");

        apply(&mut conn, ":memory:").expect("upgrade");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        let (prompt, content): (Option<String>, String) = conn
            .query_row(
                "SELECT s.system_prompt, m.content FROM sessions s JOIN messages m ON m.session_id = s.id",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("old rows survive");
        assert_eq!(prompt, None);
        assert_eq!(content, "kept");
        conn.execute("INSERT INTO responses(id, data, accessed_at) VALUES ('r', '{}', 1)", []).expect("responses");
        conn.execute("INSERT INTO conversations(name, response_id) VALUES ('c', 'r')", []).expect("conversations");
    }

    #[test]
    fn a_newer_version_is_refused_without_changes() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("set version");
        let err = apply(&mut conn, "x.db").expect_err("must refuse");
        assert!(
            matches!(err, StoreError::TooNew { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION)
        );
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0)).expect("count");
        assert_eq!(tables, 0);
    }

    #[test]
    fn deletes_and_edits_are_logged_for_the_search_index() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        apply(&mut conn, ":memory:").expect("apply");
        conn.execute_batch(
            "INSERT INTO sessions(id, platform, created_at, updated_at) VALUES ('s', 'local', 0, 0);
             INSERT INTO messages(session_id, role, content, timestamp) VALUES ('s', 'user', 'alpha', 0);
             INSERT INTO messages(session_id, role, content, timestamp) VALUES ('s', 'user', 'bravo', 0);
             UPDATE messages SET content = 'charlie' WHERE content = 'alpha';
             UPDATE messages SET active = 0 WHERE content = 'bravo';
             DELETE FROM sessions;",
        )
        .expect("changes");
        let logged: Vec<i64> = conn
            .prepare("SELECT message_id FROM search_changes ORDER BY seq")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        // The edit of 1, then both through the session's cascade; `active` is not text.
        assert_eq!(logged, vec![1, 1, 2]);
    }

    #[test]
    fn version_five_moves_search_out_and_keeps_the_messages() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        for migration in &MIGRATIONS[..4] {
            conn.execute_batch(migration.sql).expect("older schema");
            conn.pragma_update(None, "user_version", migration.version).expect("set version");
        }
        conn.execute_batch(
            "INSERT INTO sessions(id, platform, created_at, updated_at) VALUES ('old', 'local', 0, 0);
             INSERT INTO messages(session_id, role, content, timestamp) VALUES ('old', 'user', 'kept', 0);",
        )
        .expect("seed");
        apply(&mut conn, ":memory:").expect("upgrade");
        let fts: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE 'messages_fts%'", [], |row| row.get(0))
            .expect("count");
        assert_eq!(fts, 0);
        let content: String = conn.query_row("SELECT content FROM messages", [], |row| row.get(0)).expect("kept");
        assert_eq!(content, "kept");
    }

    #[test]
    fn version_four_upgrades_a_version_three_database_and_dedups_null_accounts() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        for migration in &MIGRATIONS[..3] {
            conn.execute_batch(migration.sql).expect("older schema");
            conn.pragma_update(None, "user_version", migration.version).expect("set version");
        }
        conn.execute("INSERT INTO sessions(id, platform, created_at, updated_at) VALUES ('old', 'local', 0, 0)", [])
            .expect("seed");

        apply(&mut conn, ":memory:").expect("upgrade");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        let insert = "INSERT INTO inbound(platform, account, dedup_key, payload_json, received_at) \
                      VALUES ('telegram', ?1, '99:1', '{}', 0)";
        conn.execute(insert, [None::<&str>]).expect("first");
        // Two NULL accounts are the same account, or every redelivery would be new.
        conn.execute(insert, [None::<&str>]).expect_err("same identity with no account");
        conn.execute(insert, [Some("bot2")]).expect("another account is another identity");
        let sessions: i64 = conn.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0)).expect("count");
        assert_eq!(sessions, 1);
    }
}
