//! Opening the database file: the checks that keep us from damaging a file that is
//! not ours, the private file mode, and the per-connection settings.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::migrations;
use crate::StoreError;

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

fn open_error(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Open { path: path.display().to_string(), reason: reason.into() }
}

fn not_a_database(path: &Path) -> StoreError {
    open_error(
        path,
        format!(
            "the file is not a SQLite database; herald will not touch it. Move it aside \
             (for example `mv {0} {0}.bad`) and start again to create a fresh database",
            path.display()
        ),
    )
}

/// Opens (creating if needed) the database at `path` for writing, migrated to the
/// current schema. Refuses, without writing anything, a file that is not SQLite or
/// whose schema is newer than this build.
pub(crate) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| open_error(path, format!("cannot create the directory {}: {e}", parent.display())))?;
    }
    check_header(path)?;
    create_private(path)?;

    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e.to_string()))?;
    conn.busy_timeout(busy_timeout).map_err(|e| open_error(path, e.to_string()))?;

    // Read the version before any setting that writes (journal_mode=WAL rewrites the
    // header): a file from a newer herald must be left exactly as it was.
    let found = migrations::user_version(&conn).map_err(|e| classify(path, e))?;
    if found > migrations::SCHEMA_VERSION {
        return Err(StoreError::TooNew { path: path.display().to_string(), found, known: migrations::SCHEMA_VERSION });
    }

    // Tightened only now, so a file we refuse keeps even its permissions.
    make_private(path).map_err(|e| open_error(path, format!("cannot make the file private (mode 0600): {e}")))?;

    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(|e| classify(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some network filesystems cannot share WAL's memory map; SQLite then keeps the
        // rollback journal. Still correct, but readers will wait for the writer.
        tracing::warn!(path = %path.display(), mode, "database is not in WAL mode; reads may wait for writes");
    }
    // NORMAL in WAL mode stays consistent after a crash; at worst the last commits
    // before a power loss are lost, in exchange for no fsync per commit.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| classify(path, e))?;
    conn.pragma_update(None, "foreign_keys", true).map_err(|e| classify(path, e))?;
    // A cache above the 2 MiB default keeps the recently written pages of the session
    // and message indexes in memory. (Chosen when the FTS5 index still lived here:
    // 16 MiB cost 30 MiB of RSS under the Telegram benchmark for no measurable speed
    // over 4 MiB.) Negative means KiB.
    conn.pragma_update(None, "cache_size", -4_096).map_err(|e| classify(path, e))?;
    // Checkpoints run on their own thread (checkpoint.rs), not inside our commits.
    conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| classify(path, e))?;
    conn.set_prepared_statement_cache_capacity(32);

    migrations::apply(&mut conn, &path.display().to_string())?;
    restrict_companions(path);
    Ok(conn)
}

/// Opens a connection for reading only: `query_only` makes a bug that writes through
/// it an error instead of a second writer.
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    // Not SQLITE_OPEN_READ_ONLY: a read-only connection cannot always create or map
    // the WAL index, which would make reads fail while the writer is idle.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e.to_string()))?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The first read of a non-database file fails with NOTADB; say what to do about it.
fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_a_database(path),
        _ => open_error(path, error.to_string()),
    }
}

/// Refuses a non-empty file without the SQLite header before SQLite sees it, since
/// SQLite itself may rewrite parts of a file it is asked to open.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(open_error(path, format!("cannot read the file: {e}"))),
    };
    let mut header = [0u8; 16];
    let mut filled = 0;
    while filled < header.len() {
        match file.read(&mut header[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(open_error(path, format!("cannot read the file: {e}"))),
        }
    }
    // An empty file is what SQLite itself treats as a new database.
    if filled == 0 || &header == SQLITE_HEADER { Ok(()) } else { Err(not_a_database(path)) }
}

/// Creates the file owner-only before SQLite does, since SQLite would create it with
/// the umask's permissions and give the WAL and shared-memory files the same mode.
/// An existing file is left alone here.
pub(crate) fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(open_error(path, format!("cannot create the file: {e}"))),
    }
}

/// The WAL and shared-memory files hold recent transcript pages too.
pub(crate) fn restrict_companions(path: &Path) {
    for suffix in ["-wal", "-shm"] {
        let mut companion = PathBuf::from(path.as_os_str());
        companion.as_mut_os_string().push(suffix);
        if companion.exists()
            && let Err(error) = make_private(&companion)
        {
            tracing::warn!(path = %companion.display(), %error, "cannot make the file private (mode 0600)");
        }
    }
}

#[cfg(unix)]
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_accepts_missing_empty_and_sqlite_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.db");
        check_header(&missing).expect("missing file is fine");

        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").expect("write");
        check_header(&empty).expect("empty file is fine");

        let short = dir.path().join("short.db");
        std::fs::write(&short, b"SQLite").expect("write");
        assert!(matches!(check_header(&short), Err(StoreError::Open { .. })));

        let text = dir.path().join("notes.db");
        std::fs::write(&text, b"these are my notes, not a database at all").expect("write");
        let err = check_header(&text).expect_err("must refuse");
        let message = err.to_string();
        assert!(message.contains("notes.db"), "{message}");
        assert!(message.contains("not a SQLite database"), "{message}");
        assert!(message.contains("Move it aside"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_loose_file_is_tightened_to_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("loose.db");
        std::fs::write(&path, b"").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        create_private(&path).expect("create_private");
        let untouched = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(untouched, 0o644, "an existing file is not changed before it is validated");
        make_private(&path).expect("make_private");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
