//! The outbox: every send is a row before it is attempted.
//!
//! A row is claimed (`in_flight`, one more attempt) in its own commit before the send,
//! and completed, rescheduled or failed after it. A crash between the claim and the
//! outcome leaves the row `in_flight`; at the next start [`abandon_in_flight`] turns it
//! `unknown` and nothing sends it again. That is an at-most-once choice for the crash
//! window: the platform may or may not have received the message, and since most
//! platforms offer no idempotency key to ask, sending again could deliver a reply
//! twice, which is the worse failure for a chat. Every other failure (a platform error,
//! a timeout the sender observed) goes through [`retry_outbound`] and is retried.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::inbound::{check_account, check_platform, finish_inbound};
use super::rows::now_ms;
use crate::{NewOutbound, OutboundRow, OutboundState, StoreError, TimestampMs};

const OUTBOUND_COLUMNS: &str = "id, platform, account, session_id, target_json, op_json, state, attempts, \
    due_at, created_at, updated_at, last_error, platform_message_id";

/// Queues `items` and, when given, finishes the inbound message with its outcome, all
/// in the caller's transaction: either the answer is queued and the message done, or
/// neither.
pub(crate) fn enqueue_outbound(
    conn: &Connection,
    items: &[NewOutbound],
    finish: Option<&(i64, String)>,
) -> Result<Vec<i64>, StoreError> {
    for item in items {
        validate(item)?;
    }
    let now = now_ms();
    let mut insert = conn.prepare_cached(
        "INSERT INTO outbox (platform, account, session_id, target_json, op_json, due_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
    )?;
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        ids.push(insert.query_row(
            params![
                item.platform,
                item.account,
                item.session_id,
                item.target_json,
                item.op_json,
                item.not_before.unwrap_or(0),
                now
            ],
            |row| row.get::<_, i64>(0),
        )?);
    }
    if let Some((inbound_id, outcome)) = finish {
        finish_inbound(conn, *inbound_id, outcome)?;
    }
    Ok(ids)
}

fn validate(item: &NewOutbound) -> Result<(), StoreError> {
    check_platform(&item.platform)?;
    check_account(item.account.as_deref())?;
    for (name, json) in [("target_json", &item.target_json), ("op_json", &item.op_json)] {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(json) {
            return Err(StoreError::InvalidInput(format!("the outbound {name} is not valid JSON: {e}")));
        }
    }
    Ok(())
}

/// Pending sends of one platform account due at `now`, in the order they were queued.
pub(crate) fn due_outbound(
    conn: &Connection,
    platform: &str,
    account: Option<&str>,
    now: TimestampMs,
    limit: u32,
) -> Result<Vec<OutboundRow>, StoreError> {
    let sql = format!(
        "SELECT {OUTBOUND_COLUMNS} FROM outbox \
         WHERE platform = ?1 AND account IS ?2 AND state = 'pending' AND due_at <= ?3 ORDER BY id LIMIT ?4"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params![platform, account, now, limit], outbound_from_row)?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn outbound(conn: &Connection, id: i64) -> Result<Option<OutboundRow>, StoreError> {
    let sql = format!("SELECT {OUTBOUND_COLUMNS} FROM outbox WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], outbound_from_row).optional()?)
}

/// Takes a pending send for sending: `in_flight`, one more attempt. `None` when the
/// row is not pending (another sender has it, or it is done).
pub(crate) fn claim_outbound(conn: &Connection, id: i64) -> Result<Option<OutboundRow>, StoreError> {
    let sql = format!(
        "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, updated_at = ?2 \
         WHERE id = ?1 AND state = 'pending' RETURNING {OUTBOUND_COLUMNS}"
    );
    let claimed = conn.prepare_cached(&sql)?.query_row(params![id, now_ms()], outbound_from_row).optional()?;
    if claimed.is_none() && state_of(conn, id)?.is_none() {
        return Err(StoreError::OutboundNotFound(id));
    }
    Ok(claimed)
}

/// The platform accepted the claimed send `id`.
pub(crate) fn complete_outbound(
    conn: &Connection,
    id: i64,
    platform_message_id: Option<&str>,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET state = 'sent', platform_message_id = ?2, updated_at = ?3 \
             WHERE id = ?1 AND state = 'in_flight'",
        )?
        .execute(params![id, platform_message_id, now_ms()])?;
    expect_changed(conn, id, changed, "completed")
}

/// The claimed send `id` failed for now; it is due again at `at`.
pub(crate) fn retry_outbound(conn: &Connection, id: i64, error: &str, at: TimestampMs) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', due_at = ?3, last_error = ?2, updated_at = ?4 \
             WHERE id = ?1 AND state = 'in_flight'",
        )?
        .execute(params![id, error, at, now_ms()])?;
    expect_changed(conn, id, changed, "retried")
}

/// Gives up on send `id` for good. A pending row may be failed without a claim (a send
/// the sender knows it cannot make, such as an op it cannot read).
pub(crate) fn fail_outbound(conn: &Connection, id: i64, error: &str) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 \
             WHERE id = ?1 AND state IN ('pending', 'in_flight')",
        )?
        .execute(params![id, error, now_ms()])?;
    expect_changed(conn, id, changed, "failed")
}

/// At startup: every send of this platform account still `in_flight` was cut off by a
/// stop and becomes `unknown`, never to be sent again. Returns those rows.
pub(crate) fn abandon_in_flight(
    conn: &Connection,
    platform: &str,
    account: Option<&str>,
) -> Result<Vec<OutboundRow>, StoreError> {
    let sql = format!(
        "UPDATE outbox SET state = 'unknown', updated_at = ?3, \
         last_error = 'the gateway stopped while this was being sent; it may or may not have arrived' \
         WHERE platform = ?1 AND account IS ?2 AND state = 'in_flight' RETURNING {OUTBOUND_COLUMNS}"
    );
    let mut rows: Vec<OutboundRow> = conn
        .prepare_cached(&sql)?
        .query_map(params![platform, account, now_ms()], outbound_from_row)?
        .collect::<Result<_, _>>()?;
    // RETURNING gives no order guarantee.
    rows.sort_unstable_by_key(|row| row.id);
    Ok(rows)
}

/// Deletes sends that reached a final state (sent, failed, unknown) before `before`.
pub(crate) fn prune_done(conn: &Connection, before: TimestampMs) -> Result<u64, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM outbox WHERE state IN ('sent', 'failed', 'unknown') AND updated_at < ?1")?
        .execute([before])?;
    Ok(deleted as u64)
}

fn expect_changed(conn: &Connection, id: i64, changed: usize, action: &'static str) -> Result<(), StoreError> {
    if changed > 0 {
        return Ok(());
    }
    match state_of(conn, id)? {
        None => Err(StoreError::OutboundNotFound(id)),
        Some(found) => Err(StoreError::WrongOutboundState { id, found, action }),
    }
}

fn state_of(conn: &Connection, id: i64) -> Result<Option<OutboundState>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM outbox WHERE id = ?1")?
        .query_row([id], |row| state_at(row, 0))
        .optional()?)
}

fn outbound_from_row(row: &Row<'_>) -> rusqlite::Result<OutboundRow> {
    Ok(OutboundRow {
        id: row.get(0)?,
        platform: row.get(1)?,
        account: row.get(2)?,
        session_id: row.get(3)?,
        target_json: row.get(4)?,
        op_json: row.get(5)?,
        state: state_at(row, 6)?,
        attempts: u32::try_from(row.get::<_, i64>(7)?).unwrap_or(u32::MAX),
        due_at: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
        last_error: row.get(11)?,
        platform_message_id: row.get(12)?,
    })
}

fn state_at(row: &Row<'_>, index: usize) -> rusqlite::Result<OutboundState> {
    let text: String = row.get(index)?;
    OutboundState::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("unknown outbound state `{text}`").into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        super::super::migrations::apply(&mut conn, ":memory:").expect("migrate");
        conn
    }

    fn item(text: &str, not_before: Option<TimestampMs>) -> NewOutbound {
        NewOutbound {
            platform: "telegram".into(),
            account: None,
            session_id: Some("s1".into()),
            target_json: r#"{"chat_id":"99"}"#.into(),
            op_json: format!(r#"{{"text":"{text}"}}"#),
            not_before,
        }
    }

    #[test]
    fn due_rows_follow_queue_order_and_their_due_time() {
        let conn = db();
        let ids = enqueue_outbound(&conn, &[item("a", None), item("b", Some(5_000)), item("c", None)], None)
            .expect("enqueue");
        let due: Vec<i64> =
            due_outbound(&conn, "telegram", None, 1_000, 10).expect("due").iter().map(|r| r.id).collect();
        assert_eq!(due, vec![ids[0], ids[2]]);
        let due = due_outbound(&conn, "telegram", None, 5_000, 10).expect("due");
        assert_eq!(due.len(), 3);
        assert_eq!(due_outbound(&conn, "telegram", None, 5_000, 1).expect("limit").len(), 1);
        assert!(due_outbound(&conn, "telegram", Some("other"), 5_000, 10).expect("other account").is_empty());
    }

    #[test]
    fn invalid_items_queue_nothing() {
        let conn = db();
        let mut bad = item("x", None);
        bad.op_json = "not json".into();
        let err = enqueue_outbound(&conn, &[item("ok", None), bad], None).expect_err("bad op");
        assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
        assert!(due_outbound(&conn, "telegram", None, i64::MAX, 10).expect("due").is_empty());
    }

    #[test]
    fn transitions_check_the_current_state() {
        let conn = db();
        let id = enqueue_outbound(&conn, &[item("a", None)], None).expect("enqueue")[0];
        let err = complete_outbound(&conn, id, None).expect_err("not claimed");
        assert!(
            matches!(err, StoreError::WrongOutboundState { found: OutboundState::Pending, action: "completed", .. }),
            "{err}"
        );
        assert_eq!(claim_outbound(&conn, id).expect("claim").expect("claimed").attempts, 1);
        assert_eq!(claim_outbound(&conn, id).expect("second claim"), None);
        complete_outbound(&conn, id, Some("m1")).expect("complete");
        assert!(matches!(retry_outbound(&conn, id, "e", 0), Err(StoreError::WrongOutboundState { .. })));
        assert!(matches!(fail_outbound(&conn, id, "e"), Err(StoreError::WrongOutboundState { .. })));
        assert!(matches!(claim_outbound(&conn, 404), Err(StoreError::OutboundNotFound(404))));
        assert!(matches!(fail_outbound(&conn, 404, "e"), Err(StoreError::OutboundNotFound(404))));
    }
}
