//! The inbound log: every platform message is recorded here before its adapter moves
//! the platform cursor, so a crash re-reads it and the identity check drops the copy.
//! The writes run on the writer thread; the reads on reader connections.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::now_ms;
use crate::{InboundRecorded, InboundRow, InboundState, NewInbound, StoreError};

const INBOUND_COLUMNS: &str = "id, platform, account, dedup_key, payload_json, received_at, state, session_id, \
    started_at, finished_at, outcome";

/// Records `new` unless a message with the same identity (platform, account,
/// dedup_key) is already recorded, in which case nothing changes.
pub(crate) fn record_inbound(conn: &Connection, new: &NewInbound) -> Result<InboundRecorded, StoreError> {
    validate(new)?;
    let inserted: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO inbound (platform, account, dedup_key, payload_json, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING RETURNING id",
        )?
        .query_row(params![new.platform, new.account, new.dedup_key, new.payload_json, new.received_at], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(id) = inserted {
        return Ok(InboundRecorded { id, duplicate: false });
    }
    // The expression matches the unique index's, so this is an index lookup.
    let id = conn
        .prepare_cached(
            "SELECT id FROM inbound WHERE platform = ?1 AND coalesce(account, '') = coalesce(?2, '') \
             AND dedup_key = ?3",
        )?
        .query_row(params![new.platform, new.account, new.dedup_key], |row| row.get(0))?;
    Ok(InboundRecorded { id, duplicate: true })
}

/// Each message in order; a message refused by validation keeps its error, any other
/// failure fails the whole write.
pub(crate) fn record_inbound_many(
    conn: &Connection,
    new: &[NewInbound],
) -> Result<Vec<Result<InboundRecorded, StoreError>>, StoreError> {
    let mut out = Vec::with_capacity(new.len());
    for n in new {
        match record_inbound(conn, n) {
            Err(e @ StoreError::InvalidInput(_)) => out.push(Err(e)),
            other => out.push(Ok(other?)),
        }
    }
    Ok(out)
}

fn validate(new: &NewInbound) -> Result<(), StoreError> {
    check_platform(&new.platform)?;
    check_account(new.account.as_deref())?;
    if new.dedup_key.is_empty() {
        return Err(StoreError::InvalidInput(
            "an inbound message needs the platform's identity of it (dedup_key)".into(),
        ));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&new.payload_json) {
        return Err(StoreError::InvalidInput(format!("the inbound payload is not valid JSON: {e}")));
    }
    Ok(())
}

pub(crate) fn check_platform(platform: &str) -> Result<(), StoreError> {
    if platform.trim().is_empty() {
        return Err(StoreError::InvalidInput("a platform is required (`telegram`, ...)".into()));
    }
    Ok(())
}

/// `''` and `None` would be the same identity in the unique index but different in
/// every other query; refusing `''` keeps them from ever being mixed.
pub(crate) fn check_account(account: Option<&str>) -> Result<(), StoreError> {
    if account.is_some_and(str::is_empty) {
        return Err(StoreError::InvalidInput("an account name cannot be empty; use no account instead".into()));
    }
    Ok(())
}

/// Marks the turn for `id` begun in `session_id`. Starting a started message again
/// (a resume after a restart) moves it to the given session and keeps the first start
/// time.
pub(crate) fn start_inbound(conn: &Connection, id: i64, session_id: &str) -> Result<(), StoreError> {
    if session_id.trim().is_empty() {
        return Err(StoreError::InvalidInput("starting an inbound message needs a session id".into()));
    }
    let changed = conn
        .prepare_cached(
            "UPDATE inbound SET state = 'started', session_id = ?2, started_at = coalesce(started_at, ?3) \
             WHERE id = ?1 AND state != 'finished'",
        )?
        .execute(params![id, session_id, now_ms()])?;
    if changed == 0 {
        return match state_of(conn, id)? {
            None => Err(StoreError::InboundNotFound(id)),
            Some(state) => {
                Err(StoreError::InvalidInput(format!("inbound message {id} is {state}; it cannot start a turn")))
            }
        };
    }
    Ok(())
}

/// Marks `id` finished with `outcome`. Finishing it again keeps the first outcome.
pub(crate) fn finish_inbound(conn: &Connection, id: i64, outcome: &str) -> Result<(), StoreError> {
    if outcome.trim().is_empty() {
        return Err(StoreError::InvalidInput("an outcome is required (`answered`, `dropped`, ...)".into()));
    }
    let changed = conn
        .prepare_cached(
            "UPDATE inbound SET state = 'finished', outcome = ?2, finished_at = ?3 \
             WHERE id = ?1 AND state != 'finished'",
        )?
        .execute(params![id, outcome, now_ms()])?;
    if changed == 0 && state_of(conn, id)?.is_none() {
        return Err(StoreError::InboundNotFound(id));
    }
    Ok(())
}

fn state_of(conn: &Connection, id: i64) -> Result<Option<InboundState>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM inbound WHERE id = ?1")?
        .query_row([id], |row| state_at(row, 0))
        .optional()?)
}

/// Messages of `platform` not finished yet, oldest first.
pub(crate) fn pending_inbound(conn: &Connection, platform: &str) -> Result<Vec<InboundRow>, StoreError> {
    let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound WHERE platform = ?1 AND state != 'finished' ORDER BY id");
    Ok(conn.prepare_cached(&sql)?.query_map([platform], inbound_from_row)?.collect::<Result<_, _>>()?)
}

pub(crate) fn inbound(conn: &Connection, id: i64) -> Result<Option<InboundRow>, StoreError> {
    let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], inbound_from_row).optional()?)
}

/// Deletes finished messages that finished before `before`; returns how many.
pub(crate) fn prune_finished(conn: &Connection, before: i64) -> Result<u64, StoreError> {
    let deleted =
        conn.prepare_cached("DELETE FROM inbound WHERE state = 'finished' AND finished_at < ?1")?.execute([before])?;
    Ok(deleted as u64)
}

fn inbound_from_row(row: &Row<'_>) -> rusqlite::Result<InboundRow> {
    Ok(InboundRow {
        id: row.get(0)?,
        platform: row.get(1)?,
        account: row.get(2)?,
        dedup_key: row.get(3)?,
        payload_json: row.get(4)?,
        received_at: row.get(5)?,
        state: state_at(row, 6)?,
        session_id: row.get(7)?,
        started_at: row.get(8)?,
        finished_at: row.get(9)?,
        outcome: row.get(10)?,
    })
}

fn state_at(row: &Row<'_>, index: usize) -> rusqlite::Result<InboundState> {
    let text: String = row.get(index)?;
    InboundState::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("unknown inbound state `{text}`").into())
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

    fn new(dedup_key: &str) -> NewInbound {
        NewInbound {
            platform: "telegram".into(),
            account: None,
            dedup_key: dedup_key.into(),
            payload_json: r#"{"text":"hi"}"#.into(),
            received_at: 1000,
        }
    }

    #[test]
    fn a_duplicate_returns_the_first_id_and_changes_nothing() {
        let conn = db();
        let first = record_inbound(&conn, &new("99:1")).expect("record");
        assert!(!first.duplicate);
        let mut again = new("99:1");
        again.payload_json = r#"{"text":"changed"}"#.into();
        let second = record_inbound(&conn, &again).expect("record again");
        assert_eq!(second, InboundRecorded { id: first.id, duplicate: true });
        assert_eq!(inbound(&conn, first.id).expect("read").expect("row").payload_json, r#"{"text":"hi"}"#);
    }

    #[test]
    fn bad_input_is_refused_and_records_nothing() {
        let conn = db();
        for bad in [
            NewInbound { platform: " ".into(), ..new("1") },
            NewInbound { account: Some(String::new()), ..new("1") },
            NewInbound { dedup_key: String::new(), ..new("1") },
            NewInbound { payload_json: "{".into(), ..new("1") },
        ] {
            assert!(matches!(record_inbound(&conn, &bad), Err(StoreError::InvalidInput(_))), "{bad:?}");
        }
        assert!(pending_inbound(&conn, "telegram").expect("pending").is_empty());
    }

    #[test]
    fn a_batch_keeps_its_order_each_outcome_and_its_duplicates() {
        let conn = db();
        let bad = NewInbound { payload_json: "{".into(), ..new("3") };
        let out = record_inbound_many(&conn, &[new("1"), new("2"), bad, new("1")]).expect("one write");
        assert_eq!(out.len(), 4);
        let (a, b) = (out[0].as_ref().unwrap(), out[1].as_ref().unwrap());
        assert!(!a.duplicate && !b.duplicate && a.id < b.id, "in order: {out:?}");
        assert!(matches!(out[2], Err(StoreError::InvalidInput(_))), "the bad one alone is refused");
        assert_eq!(out[3].as_ref().unwrap(), &InboundRecorded { id: a.id, duplicate: true });
        let pending: Vec<i64> = pending_inbound(&conn, "telegram").expect("pending").iter().map(|r| r.id).collect();
        assert_eq!(pending, [a.id, b.id]);
    }

    #[test]
    fn start_and_finish_move_the_state_forward_only() {
        let conn = db();
        let id = record_inbound(&conn, &new("1")).expect("record").id;
        start_inbound(&conn, id, "s1").expect("start");
        start_inbound(&conn, id, "s2").expect("restart in another session");
        let row = inbound(&conn, id).expect("read").expect("row");
        assert_eq!((row.state, row.session_id.as_deref()), (InboundState::Started, Some("s2")));
        finish_inbound(&conn, id, "answered").expect("finish");
        finish_inbound(&conn, id, "dropped").expect("finish again is a no-op");
        let row = inbound(&conn, id).expect("read").expect("row");
        assert_eq!((row.state, row.outcome.as_deref()), (InboundState::Finished, Some("answered")));
        assert!(matches!(start_inbound(&conn, id, "s3"), Err(StoreError::InvalidInput(_))));
        assert!(matches!(start_inbound(&conn, 999, "s"), Err(StoreError::InboundNotFound(999))));
        assert!(matches!(finish_inbound(&conn, 999, "x"), Err(StoreError::InboundNotFound(999))));
    }
}
