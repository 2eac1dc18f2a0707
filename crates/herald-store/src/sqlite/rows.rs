//! Conversions between SQLite rows and the store's types, and the small values
//! (clock, ids) every query needs.

use herald_core::{Message, Role, ToolCall, Usage};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::{SessionFlags, SessionRecord, StoredMessage, TimestampMs};

/// The `sessions` columns [`session_from_row`] expects, in its order.
pub(crate) const SESSION_COLUMNS: &str = "id, session_key, platform, chat_type, origin_json, \
    display_name, title, model, model_override, parent_session_id, created_at, updated_at, \
    ended_at, end_reason, message_count, tool_call_count, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, reasoning_tokens, last_prompt_tokens, suspended, \
    resume_pending, resume_reason, last_resume_marked_at, is_fresh_reset, was_auto_reset, \
    auto_reset_reason, reset_had_activity, expiry_finalized, system_prompt";

/// The `messages` columns [`message_from_row`] expects, in its order.
pub(crate) const MESSAGE_COLUMNS: &str = "id, session_id, role, content, tool_calls, tool_call_id, \
    tool_name, timestamp, token_count, finish_reason, platform_message_id";

pub(crate) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.get(0)?,
        key: row.get(1)?,
        platform: row.get(2)?,
        chat_type: row.get(3)?,
        origin_json: row.get(4)?,
        display_name: row.get(5)?,
        title: row.get(6)?,
        model: row.get(7)?,
        system_prompt: row.get(31)?,
        model_override: row.get(8)?,
        parent_session_id: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
        ended_at: row.get(12)?,
        end_reason: row.get(13)?,
        message_count: count(row, 14)?,
        tool_call_count: count(row, 15)?,
        usage: Usage {
            input_tokens: count(row, 16)?,
            output_tokens: count(row, 17)?,
            cache_read_tokens: count(row, 18)?,
            cache_write_tokens: count(row, 19)?,
            reasoning_tokens: count(row, 20)?,
        },
        last_prompt_tokens: count(row, 21)?,
        flags: SessionFlags {
            suspended: row.get(22)?,
            resume_pending: row.get(23)?,
            resume_reason: row.get(24)?,
            last_resume_marked_at: row.get(25)?,
            is_fresh_reset: row.get(26)?,
            was_auto_reset: row.get(27)?,
            auto_reset_reason: row.get(28)?,
            reset_had_activity: row.get(29)?,
            expiry_finalized: row.get(30)?,
        },
    })
}

pub(crate) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let tool_calls = match row.get::<_, Option<String>>(4)? {
        Some(json) => parse_tool_calls(&json, 4)?,
        None => Vec::new(),
    };
    let token_count: Option<i64> = row.get(8)?;
    Ok(StoredMessage {
        id: row.get(0)?,
        session_id: row.get(1)?,
        message: Message {
            role: role_at(row, 2)?,
            content: row.get(3)?,
            tool_calls,
            tool_call_id: row.get(5)?,
            tool_name: row.get(6)?,
        },
        timestamp: row.get(7)?,
        token_count: token_count.map(to_u64),
        finish_reason: row.get(9)?,
        platform_message_id: row.get(10)?,
    })
}

/// The role stored in column `index`; the table's CHECK constraint makes an unknown
/// value a sign of a file edited by something else.
pub(crate) fn role_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Role> {
    let text: String = row.get(index)?;
    Role::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("unknown message role `{text}`").into())
    })
}

fn parse_tool_calls(json: &str, index: usize) -> rusqlite::Result<Vec<ToolCall>> {
    serde_json::from_str(json).map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

/// Tool calls as stored: a JSON array of `{id, name, arguments}`, or NULL when there
/// are none, so that plain messages add nothing to the search index.
pub(crate) fn tool_calls_json(calls: &[ToolCall]) -> Result<Option<String>, serde_json::Error> {
    if calls.is_empty() { Ok(None) } else { serde_json::to_string(calls).map(Some) }
}

fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    row.get::<_, i64>(index).map(to_u64)
}

/// Counters are never negative; a negative value read back means a foreign writer, and
/// zero is the least surprising reading of it.
pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// SQLite integers are signed 64-bit; a count beyond that is not a real count.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn now_ms() -> TimestampMs {
    jiff::Timestamp::now().as_millisecond()
}

/// A fresh session id, `YYYYmmdd_HHMMSS_<8 lowercase hex>` in local time, the format
/// Hermes uses, so ids sort by creation time and tell a reader when a session began.
pub fn new_session_id() -> String {
    let now = jiff::Zoned::now();
    format!("{}_{:08x}", now.strftime("%Y%m%d_%H%M%S"), rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_have_the_hermes_shape() {
        let id = new_session_id();
        let parts: Vec<&str> = id.split('_').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert_eq!(parts[0].len(), 8);
        assert!(parts[0].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(parts[1].len(), 6);
        assert!(parts[1].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(parts[2].len(), 8);
        assert!(parts[2].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(new_session_id()[16..], new_session_id()[16..]);
    }

    #[test]
    fn tool_calls_round_trip_as_a_json_array() {
        let calls = vec![ToolCall { id: "c1".into(), name: "web_search".into(), arguments: r#"{"q":"rust"}"#.into() }];
        let json = tool_calls_json(&calls).expect("serialise").expect("some");
        assert_eq!(json, r#"[{"id":"c1","name":"web_search","arguments":"{\"q\":\"rust\"}"}]"#);
        assert_eq!(parse_tool_calls(&json, 0).expect("parse"), calls);
        assert_eq!(tool_calls_json(&[]).expect("serialise"), None);
    }

    #[test]
    fn counters_clamp_instead_of_wrapping() {
        assert_eq!(to_u64(-5), 0);
        assert_eq!(to_u64(7), 7);
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(to_i64(42), 42);
    }
}
