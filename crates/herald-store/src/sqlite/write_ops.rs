//! The write operations on sessions and messages. Each runs on the writer thread inside
//! a transaction it may share with other writes; an error returned from here undoes
//! everything the operation did (the writer then runs it alone in a savepoint).

use herald_core::{Role, Usage};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, ToSql, ffi, params};

use super::read;
use super::rows::{new_session_id, now_ms, to_i64, tool_calls_json};
use crate::{NewMessage, NewSession, OpenedTurn, SessionPatch, SessionRecord, StoreError, check_session_id};

/// Session ids carry 32 random bits per second; a clash is rare enough that a few
/// fresh draws always resolve it.
const SESSION_ID_ATTEMPTS: usize = 4;

/// Rows per INSERT statement: ten parameters each stays far below SQLite's limit of
/// 32766 bound parameters.
const MESSAGES_PER_INSERT: usize = 200;

/// Keys a model override may have: it chooses a model, never carries credentials.
const MODEL_OVERRIDE_KEYS: [&str; 3] = ["model", "provider", "base_url"];

pub(crate) fn create_session(conn: &Connection, new: &NewSession) -> Result<SessionRecord, StoreError> {
    let id = insert_session(conn, new)?;
    read::session(conn, &id)?.ok_or(StoreError::SessionNotFound(id))
}

/// Validates and inserts a session; returns its id.
fn insert_session(conn: &Connection, new: &NewSession) -> Result<String, StoreError> {
    validate_new_session(new)?;
    if let Some(parent) = &new.parent_session_id
        && !session_exists(conn, parent)?
    {
        return Err(StoreError::InvalidInput(format!("parent session `{parent}` does not exist")));
    }

    let now = now_ms();
    let mut insert = conn.prepare_cached(
        "INSERT INTO sessions (id, session_key, platform, chat_type, origin_json, display_name, title, \
         model, system_prompt, parent_session_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
    )?;
    let mut execute = |id: &str| {
        insert.execute(params![
            id,
            new.key,
            new.platform,
            new.chat_type,
            new.origin_json,
            new.display_name,
            new.title,
            new.model,
            new.system_prompt,
            new.parent_session_id,
            now,
        ])
    };
    if let Some(id) = &new.id {
        return match execute(id) {
            Ok(_) => Ok(id.clone()),
            Err(e) if is_primary_key_clash(&e) => Err(StoreError::SessionExists(id.clone())),
            Err(e) => Err(e.into()),
        };
    }
    for attempt in 1..=SESSION_ID_ATTEMPTS {
        let id = new_session_id();
        match execute(&id) {
            Ok(_) => return Ok(id),
            Err(e) if is_primary_key_clash(&e) && attempt < SESSION_ID_ATTEMPTS => {
                tracing::debug!(id, "session id clash; drawing another");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::InvalidInput("could not draw an unused session id".into()))
}

fn is_primary_key_clash(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|e| e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn validate_new_session(new: &NewSession) -> Result<(), StoreError> {
    if let Some(id) = &new.id {
        check_session_id(id)?;
    }
    if new.platform.trim().is_empty() {
        return Err(StoreError::InvalidInput("a session needs a platform (`local`, `telegram`, ...)".into()));
    }
    if let Some(origin) = &new.origin_json
        && let Err(e) = serde_json::from_str::<serde_json::Value>(origin)
    {
        return Err(StoreError::InvalidInput(format!("origin_json is not valid JSON: {e}")));
    }
    Ok(())
}

fn validate_model_override(json: &str) -> Result<(), StoreError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| StoreError::InvalidInput(format!("model_override is not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(StoreError::InvalidInput("model_override must be a JSON object".into()));
    };
    if let Some(key) = object.keys().find(|key| !MODEL_OVERRIDE_KEYS.contains(&key.as_str())) {
        return Err(StoreError::InvalidInput(format!(
            "model_override may only hold `model`, `provider` and `base_url`, not `{key}`"
        )));
    }
    Ok(())
}

pub(crate) fn update_session(conn: &Connection, id: &str, patch: &SessionPatch) -> Result<(), StoreError> {
    if let Some(Some(json)) = &patch.model_override {
        validate_model_override(json)?;
    }

    let mut assignments: Vec<(&str, Value)> = Vec::new();
    let mut set = |column: &'static str, value: Value| assignments.push((column, value));
    if let Some(title) = &patch.title {
        set("title", text(title.as_deref()));
    }
    if let Some(json) = &patch.model_override {
        set("model_override", text(json.as_deref()));
    }
    if let Some(v) = patch.suspended {
        set("suspended", Value::Integer(v.into()));
    }
    if let Some(v) = patch.resume_pending {
        set("resume_pending", Value::Integer(v.into()));
    }
    if let Some(reason) = &patch.resume_reason {
        set("resume_reason", text(reason.as_deref()));
    }
    if let Some(at) = patch.last_resume_marked_at {
        set("last_resume_marked_at", at.map_or(Value::Null, Value::Integer));
    }
    if let Some(v) = patch.is_fresh_reset {
        set("is_fresh_reset", Value::Integer(v.into()));
    }
    if let Some(v) = patch.was_auto_reset {
        set("was_auto_reset", Value::Integer(v.into()));
    }
    if let Some(reason) = &patch.auto_reset_reason {
        set("auto_reset_reason", text(reason.as_deref()));
    }
    if let Some(v) = patch.reset_had_activity {
        set("reset_had_activity", Value::Integer(v.into()));
    }
    if let Some(v) = patch.expiry_finalized {
        set("expiry_finalized", Value::Integer(v.into()));
    }
    if let Some(tokens) = patch.last_prompt_tokens {
        set("last_prompt_tokens", Value::Integer(to_i64(tokens)));
    }

    if assignments.is_empty() {
        return if session_exists(conn, id)? { Ok(()) } else { Err(StoreError::SessionNotFound(id.to_owned())) };
    }
    // Column names come from the fixed list above, never from input.
    let columns: Vec<String> =
        assignments.iter().enumerate().map(|(i, (column, _))| format!("{column} = ?{}", i + 1)).collect();
    let sql = format!("UPDATE sessions SET {} WHERE id = ?{}", columns.join(", "), assignments.len() + 1);
    let mut values: Vec<Value> = assignments.into_iter().map(|(_, value)| value).collect();
    values.push(Value::Text(id.to_owned()));
    let changed = conn.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(values))?;
    if changed == 0 { Err(StoreError::SessionNotFound(id.to_owned())) } else { Ok(()) }
}

pub(crate) fn end_session(conn: &Connection, id: &str, reason: &str) -> Result<(), StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::InvalidInput("an end reason is required (`session_reset`, `new_session`, ...)".into()));
    }
    let changed = conn
        .prepare_cached("UPDATE sessions SET ended_at = ?1, end_reason = ?2 WHERE id = ?3 AND ended_at IS NULL")?
        .execute(params![now_ms(), reason, id])?;
    if changed == 0 && !session_exists(conn, id)? {
        return Err(StoreError::SessionNotFound(id.to_owned()));
    }
    Ok(())
}

pub(crate) fn append_turn(
    conn: &Connection,
    session_id: &str,
    messages: &[NewMessage],
    usage: &Usage,
    last_prompt_tokens: Option<u64>,
) -> Result<Vec<i64>, StoreError> {
    if !session_exists(conn, session_id)? {
        return Err(StoreError::SessionNotFound(session_id.to_owned()));
    }
    append_to_existing(conn, session_id, messages, usage, last_prompt_tokens)
}

/// Creates `new` (which must carry an id) unless it exists, then appends `messages`.
pub(crate) fn open_turn(
    conn: &Connection,
    new: &NewSession,
    messages: &[NewMessage],
) -> Result<OpenedTurn, StoreError> {
    let Some(id) = new.id.as_deref() else {
        return Err(StoreError::InvalidInput("opening a turn needs the id of the session to use or create".into()));
    };
    check_session_id(id)?;
    let created = !session_exists(conn, id)?;
    if created {
        insert_session(conn, new)?;
    }
    let message_ids = append_to_existing(conn, id, messages, &Usage::default(), None)?;
    let session = read::session(conn, id)?.ok_or_else(|| StoreError::SessionNotFound(id.to_owned()))?;
    Ok(OpenedTurn { session, created, message_ids })
}

fn append_to_existing(
    conn: &Connection,
    session_id: &str,
    messages: &[NewMessage],
    usage: &Usage,
    last_prompt_tokens: Option<u64>,
) -> Result<Vec<i64>, StoreError> {
    let now = now_ms();
    let mut ids = Vec::with_capacity(messages.len());
    let mut tool_calls = 0_u64;
    for chunk in messages.chunks(MESSAGES_PER_INSERT) {
        ids.extend(insert_messages(conn, session_id, chunk, now)?);
        tool_calls += chunk
            .iter()
            .filter(|new| new.message.role == Role::Assistant)
            .map(|new| new.message.tool_calls.len() as u64)
            .sum::<u64>();
    }

    // MAX keeps updated_at from moving backwards if the wall clock does.
    conn.prepare_cached(
        "UPDATE sessions SET \
             message_count = message_count + ?2, \
             tool_call_count = tool_call_count + ?3, \
             input_tokens = input_tokens + ?4, \
             output_tokens = output_tokens + ?5, \
             cache_read_tokens = cache_read_tokens + ?6, \
             cache_write_tokens = cache_write_tokens + ?7, \
             reasoning_tokens = reasoning_tokens + ?8, \
             last_prompt_tokens = coalesce(?10, last_prompt_tokens), \
             updated_at = MAX(updated_at, ?9) \
         WHERE id = ?1",
    )?
    .execute(params![
        session_id,
        to_i64(messages.len() as u64),
        to_i64(tool_calls),
        to_i64(usage.input_tokens),
        to_i64(usage.output_tokens),
        to_i64(usage.cache_read_tokens),
        to_i64(usage.cache_write_tokens),
        to_i64(usage.reasoning_tokens),
        now,
        last_prompt_tokens.map(to_i64),
    ])?;
    Ok(ids)
}

/// Deletes a session with its messages (the search triggers drop their index rows);
/// sessions forked from it keep existing without a parent. `false` when there was none.
pub(crate) fn delete_session(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("DELETE FROM messages WHERE session_id = ?1")?.execute([id])?;
    // The foreign key clears `parent_session_id` of the children.
    let deleted = conn.prepare_cached("DELETE FROM sessions WHERE id = ?1")?.execute([id])?;
    Ok(deleted > 0)
}

/// Deactivates the messages of `session_id` from `from_message_id` on and takes them
/// off the session's counters. Nothing is deleted: the rows stay for the record, and
/// every read (transcript, search, fork) already skips inactive ones. The search index
/// keeps their entries, which the `active = 1` filter of every search hides.
/// `updated_at` stays: undoing is not conversation activity.
pub(crate) fn rewind_session(conn: &Connection, session_id: &str, from_message_id: i64) -> Result<u64, StoreError> {
    if !session_exists(conn, session_id)? {
        return Err(StoreError::SessionNotFound(session_id.to_owned()));
    }
    // Counted before the update, over the same rows it changes.
    let (messages, tool_calls): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(CASE WHEN role = 'assistant' AND tool_calls IS NOT NULL \
                                            THEN json_array_length(tool_calls) ELSE 0 END), 0) \
             FROM messages WHERE session_id = ?1 AND active = 1 AND id >= ?2",
        )?
        .query_row(params![session_id, from_message_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if messages == 0 {
        return Ok(0);
    }
    conn.prepare_cached("UPDATE messages SET active = 0 WHERE session_id = ?1 AND active = 1 AND id >= ?2")?
        .execute(params![session_id, from_message_id])?;
    conn.prepare_cached(
        "UPDATE sessions SET \
             message_count = MAX(message_count - ?2, 0), \
             tool_call_count = MAX(tool_call_count - ?3, 0) \
         WHERE id = ?1",
    )?
    .execute(params![session_id, messages, tool_calls])?;
    Ok(messages as u64)
}

/// Ends `id` with reason `branched` and creates a child session holding a copy of its
/// active messages. The copies keep their timestamps; the child starts with no usage.
pub(crate) fn fork_session(conn: &Connection, id: &str) -> Result<SessionRecord, StoreError> {
    if !session_exists(conn, id)? {
        return Err(StoreError::SessionNotFound(id.to_owned()));
    }
    end_session(conn, id, "branched")?;

    let now = now_ms();
    let mut copy_session = conn.prepare_cached(
        "INSERT INTO sessions (id, session_key, platform, chat_type, origin_json, display_name, title, model, \
         system_prompt, model_override, parent_session_id, created_at, updated_at) \
         SELECT ?1, session_key, platform, chat_type, origin_json, display_name, title, model, \
         system_prompt, model_override, id, ?3, ?3 FROM sessions WHERE id = ?2",
    )?;
    let mut child = None;
    for attempt in 1..=SESSION_ID_ATTEMPTS {
        let candidate = new_session_id();
        match copy_session.execute(params![candidate, id, now]) {
            Ok(_) => {
                child = Some(candidate);
                break;
            }
            Err(e) if is_primary_key_clash(&e) && attempt < SESSION_ID_ATTEMPTS => {}
            Err(e) => return Err(e.into()),
        }
    }
    let child = child.ok_or_else(|| StoreError::InvalidInput("could not draw an unused session id".into()))?;

    // Platform message ids stay with the original: they identify deliveries, and a copy
    // must not look like a second delivery of the same platform message.
    conn.prepare_cached(
        "INSERT INTO messages (session_id, role, content, tool_calls, tool_call_id, tool_name, timestamp, \
         token_count, finish_reason) \
         SELECT ?1, role, content, tool_calls, tool_call_id, tool_name, timestamp, token_count, finish_reason \
         FROM messages WHERE session_id = ?2 AND active = 1 ORDER BY id",
    )?
    .execute(params![child, id])?;
    conn.prepare_cached(
        "UPDATE sessions SET \
             message_count = (SELECT count(*) FROM messages WHERE session_id = ?1), \
             tool_call_count = (SELECT coalesce(sum(json_array_length(tool_calls)), 0) FROM messages \
                                WHERE session_id = ?1 AND role = 'assistant' AND tool_calls IS NOT NULL) \
         WHERE id = ?1",
    )?
    .execute([&child])?;
    read::session(conn, &child)?.ok_or(StoreError::SessionNotFound(child))
}

/// Inserts `messages` with one multi-row statement and returns their ids in order.
///
/// One statement per turn rather than one per message matters for search: FTS5 writes
/// its pending index data out as a new segment whenever a statement inside the
/// transaction opens a savepoint, which every trigger-maintained insert does. One
/// statement means one segment per turn instead of one per message; bulk appends get
/// about three times faster.
fn insert_messages(
    conn: &Connection,
    session_id: &str,
    messages: &[NewMessage],
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let calls: Vec<Option<String>> = messages
        .iter()
        .map(|new| tool_calls_json(&new.message.tool_calls))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::InvalidInput(format!("tool calls cannot be serialised: {e}")))?;
    let token_counts: Vec<Option<i64>> = messages.iter().map(|new| new.token_count.map(to_i64)).collect();

    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let sql = format!(
        "INSERT INTO messages (session_id, role, content, tool_calls, tool_call_id, tool_name, timestamp, \
         token_count, finish_reason, platform_message_id) VALUES {} RETURNING id",
        vec![row; messages.len()].join(", ")
    );
    let mut values: Vec<&dyn ToSql> = Vec::with_capacity(messages.len() * 10);
    let roles: Vec<&str> = messages.iter().map(|new| new.message.role.as_str()).collect();
    for (i, new) in messages.iter().enumerate() {
        let message = &new.message;
        values.extend_from_slice(&[
            &session_id as &dyn ToSql,
            &roles[i],
            &message.content,
            &calls[i],
            &message.tool_call_id,
            &message.tool_name,
            &now,
            &token_counts[i],
            &new.finish_reason,
            &new.platform_message_id,
        ]);
    }
    let mut statement = conn.prepare_cached(&sql)?;
    let mut ids = statement.query_map(values.as_slice(), |row| row.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
    // RETURNING gives no order guarantee; AUTOINCREMENT ids follow the VALUES order.
    ids.sort_unstable();
    Ok(ids)
}

fn session_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?.query_row([id], |_| Ok(())).optional()?.is_some())
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::Text(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_SESSION_ID_LEN;

    #[test]
    fn model_override_accepts_only_the_three_keys() {
        validate_model_override(r#"{"model":"gpt-5","provider":"openai","base_url":"https://x"}"#).expect("valid");
        validate_model_override("{}").expect("empty object");
        let err = validate_model_override(r#"{"model":"m","api_key":"sk-secret"}"#).expect_err("credentials");
        assert!(err.to_string().contains("api_key"), "{err}");
        assert!(matches!(validate_model_override("[1]"), Err(StoreError::InvalidInput(_))));
        assert!(matches!(validate_model_override("{"), Err(StoreError::InvalidInput(_))));
    }

    #[test]
    fn session_ids_are_checked_like_hermes_does() {
        for good in ["api-0123456789abcdef", "api_1700000000_deadbeef", "20250101_120000_abcdef01", "a b:c"] {
            check_session_id(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        check_session_id(&"x".repeat(MAX_SESSION_ID_LEN)).expect("at the limit");
        for bad in ["", "  ", "../etc", "a/b", "a\\b", "C:evil", "line\nbreak", "nul\0"] {
            assert!(matches!(check_session_id(bad), Err(StoreError::InvalidInput(_))), "{bad:?}");
        }
        let err = check_session_id(&"x".repeat(MAX_SESSION_ID_LEN + 1)).expect_err("too long");
        assert!(err.to_string().contains("256"), "{err}");
    }

    #[test]
    fn new_sessions_need_a_platform_and_json_origin() {
        let mut new = NewSession { platform: " ".into(), ..NewSession::default() };
        assert!(matches!(validate_new_session(&new), Err(StoreError::InvalidInput(_))));
        new.platform = "telegram".into();
        validate_new_session(&new).expect("valid");
        new.origin_json = Some("not json".into());
        assert!(matches!(validate_new_session(&new), Err(StoreError::InvalidInput(_))));
        new.origin_json = Some(r#"{"platform":"telegram","chat_id":"99"}"#.into());
        validate_new_session(&new).expect("valid origin");
    }
}
