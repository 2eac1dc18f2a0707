//! Small durable values adapters keep across restarts (sync cursors, per-peer
//! tokens), under a namespace the gateway chooses per platform account.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::now_ms;
use crate::StoreError;

fn check(namespace: &str, key: &str) -> Result<(), StoreError> {
    if namespace.is_empty() || key.is_empty() {
        return Err(StoreError::InvalidInput("adapter state needs a namespace and a key".into()));
    }
    Ok(())
}

pub(crate) fn state_get(conn: &Connection, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
    check(namespace, key)?;
    Ok(conn
        .prepare_cached("SELECT value FROM adapter_state WHERE namespace = ?1 AND key = ?2")?
        .query_row(params![namespace, key], |row| row.get(0))
        .optional()?)
}

pub(crate) fn state_put(conn: &Connection, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
    check(namespace, key)?;
    conn.prepare_cached(
        "INSERT INTO adapter_state (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![namespace, key, value, now_ms()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_and_kept_apart_by_namespace() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        super::super::migrations::apply(&mut conn, ":memory:").expect("migrate");
        assert_eq!(state_get(&conn, "telegram", "offset").expect("get"), None);
        state_put(&conn, "telegram", "offset", "10").expect("put");
        state_put(&conn, "telegram", "offset", "11").expect("replace");
        state_put(&conn, "telegram:bot2", "offset", "5").expect("other namespace");
        assert_eq!(state_get(&conn, "telegram", "offset").expect("get").as_deref(), Some("11"));
        assert_eq!(state_get(&conn, "telegram:bot2", "offset").expect("get").as_deref(), Some("5"));
        assert!(matches!(state_put(&conn, "", "k", "v"), Err(StoreError::InvalidInput(_))));
    }
}
