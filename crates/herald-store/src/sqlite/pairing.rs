//! DM pairing with Hermes's semantics (`gateway/pairing.py`): 8-character codes from
//! an unambiguous alphabet, valid for an hour, one request per user per 10 minutes, at
//! most 3 live codes per platform, and a 1-hour platform lockout after 5 consecutive
//! wrong codes. Only a salted SHA-256 hash of a code is stored, as `sha256(salt ||
//! code)` with a fresh 16-byte salt per code, exactly the hash Hermes writes.
//!
//! Each operation runs as one write on the writer thread, which replaces Hermes's
//! process lock around its JSON files. Times are injected (`now`, ms since the epoch)
//! so the windows can be tested without waiting.

use rand::Rng;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use super::inbound::check_platform;
use crate::{
    ApprovedUser, PAIRING_ALPHABET, PAIRING_CODE_LENGTH, PAIRING_CODE_TTL_SECONDS, PAIRING_LOCKOUT_SECONDS,
    PAIRING_MAX_FAILED_ATTEMPTS, PAIRING_MAX_PENDING_PER_PLATFORM, PAIRING_RATE_LIMIT_SECONDS, PairingList,
    PairingRequest, PendingPairing, StoreError, TimestampMs,
};

const TTL_MS: i64 = PAIRING_CODE_TTL_SECONDS * 1000;
const RATE_LIMIT_MS: i64 = PAIRING_RATE_LIMIT_SECONDS * 1000;
const LOCKOUT_MS: i64 = PAIRING_LOCKOUT_SECONDS * 1000;

/// Hermes's `_hash_code`: the hex SHA-256 of the salt bytes followed by the code's UTF-8.
pub(crate) fn code_hash(salt: &[u8], code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(code.as_bytes());
    hex::encode(hasher.finalize())
}

/// Compares without an early exit, so the time taken says nothing about how much of
/// a guess matched (Hermes's `secrets.compare_digest`).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// A fresh code from the thread's CSPRNG (ChaCha seeded by the OS), like `secrets.choice`.
fn new_code(rng: &mut impl Rng) -> String {
    let alphabet = PAIRING_ALPHABET.as_bytes();
    (0..PAIRING_CODE_LENGTH).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

fn user(user_id: &str) -> Result<&str, StoreError> {
    let user_id = user_id.trim();
    if user_id.is_empty() {
        return Err(StoreError::InvalidInput("a pairing needs the user's id".into()));
    }
    Ok(user_id)
}

/// Hermes's `_cleanup_expired`: a code older than the TTL is gone.
fn purge_expired(conn: &Connection, platform: &str, now: TimestampMs) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM pairing_pending WHERE platform = ?1 AND ?2 - created_at > ?3")?
        .execute(params![platform, now, TTL_MS])?;
    Ok(())
}

fn locked_out(conn: &Connection, platform: &str, now: TimestampMs) -> Result<bool, StoreError> {
    let until: Option<i64> = conn
        .prepare_cached("SELECT locked_until FROM pairing_lockouts WHERE platform = ?1")?
        .query_row([platform], |row| row.get(0))
        .optional()?;
    Ok(until.is_some_and(|until| now < until))
}

fn rate_limited(conn: &Connection, platform: &str, user_id: &str, now: TimestampMs) -> Result<bool, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT requested_at FROM pairing_requests WHERE platform = ?1 AND user_id = ?2")?
        .query_row(params![platform, user_id], |row| row.get(0))
        .optional()?;
    Ok(last.is_some_and(|last| now - last < RATE_LIMIT_MS))
}

fn record_request(conn: &Connection, platform: &str, user_id: &str, now: TimestampMs) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO pairing_requests (platform, user_id, requested_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (platform, user_id) DO UPDATE SET requested_at = excluded.requested_at",
    )?
    .execute(params![platform, user_id, now])?;
    Ok(())
}

/// An unknown user asks for a code. Rate-limited users get nothing (the gateway stays
/// silent); a locked or full platform gives no code but the request is still recorded
/// for the rate limit, as Hermes's runner does after a failed generation.
pub(crate) fn request(
    conn: &Connection,
    platform: &str,
    user_id: &str,
    user_name: Option<&str>,
    now: TimestampMs,
) -> Result<PairingRequest, StoreError> {
    check_platform(platform)?;
    let user_id = user(user_id)?;
    purge_expired(conn, platform, now)?;
    if rate_limited(conn, platform, user_id, now)? {
        return Ok(PairingRequest::RateLimited);
    }
    let pending: i64 = conn
        .prepare_cached("SELECT count(*) FROM pairing_pending WHERE platform = ?1")?
        .query_row([platform], |row| row.get(0))?;
    if locked_out(conn, platform, now)? || pending >= PAIRING_MAX_PENDING_PER_PLATFORM as i64 {
        record_request(conn, platform, user_id, now)?;
        return Ok(PairingRequest::Unavailable);
    }

    let mut rng = rand::rng();
    let code = new_code(&mut rng);
    let salt: [u8; 16] = rng.random();
    let entry_id: [u8; 8] = rng.random();
    conn.prepare_cached(
        "INSERT INTO pairing_pending (entry_id, platform, code_hash, salt, user_id, user_name, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        hex::encode(entry_id),
        platform,
        code_hash(&salt, &code),
        hex::encode(salt),
        user_id,
        user_name,
        now
    ])?;
    record_request(conn, platform, user_id, now)?;
    Ok(PairingRequest::Code(code))
}

/// The operator approves `code` (any case, surrounding whitespace ignored). `None` for
/// a wrong or expired code, and for every code while the platform is locked out. A
/// wrong code counts towards the lockout; a right one resets the count.
pub(crate) fn approve(
    conn: &Connection,
    platform: &str,
    code: &str,
    now: TimestampMs,
) -> Result<Option<ApprovedUser>, StoreError> {
    check_platform(platform)?;
    purge_expired(conn, platform, now)?;
    let code = code.trim().to_uppercase();
    // Before the lookup, or a code issued before the lockout would still work.
    if locked_out(conn, platform, now)? {
        return Ok(None);
    }
    let entries: Vec<(String, String, String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT entry_id, code_hash, salt, user_id, user_name FROM pairing_pending \
             WHERE platform = ?1 ORDER BY created_at, entry_id",
        )?
        .query_map([platform], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))?
        .collect::<Result<_, _>>()?;
    // Every entry is hashed and compared, so the time taken does not tell which matched.
    let mut matched = None;
    for (entry_id, hash, salt, user_id, user_name) in entries {
        let Ok(salt) = hex::decode(&salt) else { continue };
        if constant_time_eq(code_hash(&salt, &code).as_bytes(), hash.as_bytes()) && matched.is_none() {
            matched = Some((entry_id, user_id, user_name));
        }
    }

    let Some((entry_id, user_id, user_name)) = matched else {
        record_failure(conn, platform, now)?;
        return Ok(None);
    };
    conn.prepare_cached("DELETE FROM pairing_pending WHERE entry_id = ?1")?.execute([&entry_id])?;
    // Hermes counts consecutive failures: a success proves the operator, so old typos
    // must not add up to a lockout later.
    conn.prepare_cached("UPDATE pairing_lockouts SET failures = 0 WHERE platform = ?1")?.execute([platform])?;
    conn.prepare_cached(
        "INSERT INTO pairing_approved (platform, user_id, user_name, approved_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (platform, user_id) DO UPDATE SET user_name = excluded.user_name, \
         approved_at = excluded.approved_at",
    )?
    .execute(params![platform, user_id, user_name, now])?;
    Ok(Some(ApprovedUser { platform: platform.to_owned(), user_id, user_name, approved_at: now }))
}

/// One more wrong code; the fifth in a row locks the platform and restarts the count.
fn record_failure(conn: &Connection, platform: &str, now: TimestampMs) -> Result<(), StoreError> {
    let failures: i64 = conn
        .prepare_cached(
            "INSERT INTO pairing_lockouts (platform, failures) VALUES (?1, 1) \
             ON CONFLICT (platform) DO UPDATE SET failures = failures + 1 RETURNING failures",
        )?
        .query_row([platform], |row| row.get(0))?;
    if failures >= i64::from(PAIRING_MAX_FAILED_ATTEMPTS) {
        conn.prepare_cached("UPDATE pairing_lockouts SET failures = 0, locked_until = ?2 WHERE platform = ?1")?
            .execute(params![platform, now + LOCKOUT_MS])?;
        tracing::warn!(
            platform,
            seconds = PAIRING_LOCKOUT_SECONDS,
            attempts = PAIRING_MAX_FAILED_ATTEMPTS,
            "pairing locked out after repeated wrong codes"
        );
    }
    Ok(())
}

pub(crate) fn is_locked_out(conn: &Connection, platform: &str, now: TimestampMs) -> Result<bool, StoreError> {
    locked_out(conn, platform, now)
}

pub(crate) fn is_approved(conn: &Connection, platform: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM pairing_approved WHERE platform = ?1 AND user_id = ?2")?
        .query_row(params![platform, user_id.trim()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Live codes (without the codes) and approved users. A read, so expired codes are
/// left out rather than deleted.
pub(crate) fn list(conn: &Connection, now: TimestampMs) -> Result<PairingList, StoreError> {
    let pending = conn
        .prepare_cached(
            "SELECT platform, entry_id, user_id, user_name, created_at, substr(code_hash, 1, 8) \
             FROM pairing_pending WHERE ?1 - created_at <= ?2 ORDER BY created_at, entry_id",
        )?
        .query_map(params![now, TTL_MS], |row| {
            Ok(PendingPairing {
                platform: row.get(0)?,
                request_id: row.get(1)?,
                user_id: row.get(2)?,
                user_name: row.get(3)?,
                created_at: row.get(4)?,
                hash_prefix: row.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let approved = conn
        .prepare_cached(
            "SELECT platform, user_id, user_name, approved_at FROM pairing_approved \
             ORDER BY platform, approved_at, user_id",
        )?
        .query_map([], approved_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(PairingList { pending, approved })
}

fn approved_from_row(row: &Row<'_>) -> rusqlite::Result<ApprovedUser> {
    Ok(ApprovedUser { platform: row.get(0)?, user_id: row.get(1)?, user_name: row.get(2)?, approved_at: row.get(3)? })
}

pub(crate) fn revoke(conn: &Connection, platform: &str, user_id: &str) -> Result<bool, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM pairing_approved WHERE platform = ?1 AND user_id = ?2")?
        .execute(params![platform, user_id.trim()])?;
    Ok(deleted > 0)
}

/// Deletes every pending code of every platform, expired ones included (Hermes counts
/// what was in the files); returns how many.
pub(crate) fn clear_pending(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.prepare_cached("DELETE FROM pairing_pending")?.execute([])? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_hermes_s_reference_vector() {
        let salt = hex::decode("00112233445566778899aabbccddeeff").expect("hex");
        assert_eq!(code_hash(&salt, "ABCD2345"), "4c5e9f48b74339260bec5c6b22bf8bb73fd2d25801843c85c535554724b8c4eb");
    }

    #[test]
    fn codes_use_the_alphabet_and_length() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let code = new_code(&mut rng);
            assert_eq!(code.len(), PAIRING_CODE_LENGTH);
            assert!(code.chars().all(|c| PAIRING_ALPHABET.contains(c)), "{code}");
        }
        assert_eq!(PAIRING_ALPHABET.len(), 32);
        assert!(!PAIRING_ALPHABET.contains(['0', 'O', '1', 'I']));
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn an_empty_user_is_refused() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        super::super::migrations::apply(&mut conn, ":memory:").expect("migrate");
        assert!(matches!(request(&conn, "telegram", "  ", None, 0), Err(StoreError::InvalidInput(_))));
        assert!(matches!(request(&conn, "", "42", None, 0), Err(StoreError::InvalidInput(_))));
    }
}
