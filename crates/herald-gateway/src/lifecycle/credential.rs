//! Scoped credential locks: one lock file per credential in a machine-wide directory,
//! held with flock while the adapter runs, so two gateways on one machine (two homes,
//! two users of one state directory) never poll with the same bot token, which Telegram
//! answers with a 409 for both.
//!
//! The file is named `<scope>-<sha256(identity)[:16]>.lock` as Hermes names it; the
//! token itself never appears in a name, a file, a log or an error.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use herald_core::CredentialScope;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::process::{KIND, ProcessRecord, now_secs};

/// The directory of the locks: the configured one (`HERALD_GATEWAY_LOCK_DIR`,
/// `HERMES_GATEWAY_LOCK_DIR`), else `${XDG_STATE_HOME:-~/.local/state}/herald/gateway-locks`,
/// else (no home at all) `/tmp/herald-locks-<uid>`.
pub fn credential_lock_dir(configured: Option<&Path>) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/state")));
    match state {
        Some(state) => state.join("herald").join("gateway-locks"),
        None => std::env::temp_dir().join(format!("herald-locks-{}", rustix::process::getuid().as_raw())),
    }
}

/// Why a credential could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum CredentialLockError {
    #[error(
        "{platform}: this credential ({scope}) is already in use by another herald gateway on this machine ({}); \
         stop that gateway (`herald gateway stop --home <its home>`) or give this one its own credential",
        holder_text(*.holder_pid)
    )]
    InUse { platform: String, scope: &'static str, holder_pid: Option<u32>, path: PathBuf },
    #[error("{platform}: cannot use the credential lock {}: {source}", .path.display())]
    Io { platform: String, path: PathBuf, source: io::Error },
}

fn holder_text(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".to_owned(),
    }
}

/// A held credential lock; dropping it releases it.
#[derive(Debug)]
pub struct CredentialLock {
    _file: File,
    path: PathBuf,
}

/// `<scope>-<first 16 hex digits of sha256(identity)>.lock`.
pub fn lock_file_name(scope: &CredentialScope) -> String {
    format!("{}-{}.lock", sanitize(scope.scope), identity_hash(&scope.identity))
}

fn identity_hash(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    hex::encode(&digest[..8])
}

fn sanitize(scope: &str) -> String {
    scope.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

impl CredentialLock {
    /// Takes the lock of `scope` in `dir` (created, mode 0700, if missing) for `platform`,
    /// without waiting.
    pub fn acquire(dir: &Path, platform: &str, scope: &CredentialScope) -> Result<CredentialLock, CredentialLockError> {
        let path = dir.join(lock_file_name(scope));
        let io_err = |source| CredentialLockError::Io { platform: platform.to_owned(), path: path.clone(), source };
        create_private_dir(dir).map_err(io_err)?;
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder_pid = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v["pid"].as_u64())
                    .and_then(|p| u32::try_from(p).ok());
                return Err(CredentialLockError::InUse {
                    platform: platform.to_owned(),
                    scope: scope.scope,
                    holder_pid,
                    path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let me = ProcessRecord::current();
        let record = json!({
            "pid": me.pid,
            "kind": KIND,
            "argv": me.argv,
            "start_time": me.start_time,
            "scope": scope.scope,
            "identity_hash": identity_hash(&scope.identity),
            "metadata": { "platform": platform },
            "updated_at": now_secs(),
        });
        (|| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&serde_json::to_vec(&record).map_err(io::Error::other)?)?;
            file.sync_all()
        })()
        .map_err(io_err)?;
        Ok(CredentialLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:AAE-secret-token-value";

    fn scope(token: &str) -> CredentialScope {
        CredentialScope { scope: "telegram-bot-token", identity: token.to_owned() }
    }

    #[test]
    fn one_token_is_locked_once_and_the_refusal_names_platform_and_pid_but_never_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let locks = dir.path().join("locks");
        let held = CredentialLock::acquire(&locks, "telegram", &scope(TOKEN)).expect("first");
        let error = CredentialLock::acquire(&locks, "telegram", &scope(TOKEN)).expect_err("second");
        let text = error.to_string();
        assert!(text.starts_with("telegram: "), "{text}");
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        assert!(!text.contains(TOKEN) && !text.contains("secret"), "{text}");
        assert!(matches!(error, CredentialLockError::InUse { holder_pid: Some(_), .. }));

        let other = CredentialLock::acquire(&locks, "telegram", &scope("999:other")).expect("another token is free");
        assert_ne!(other.path(), held.path());
        drop(held);
        CredentialLock::acquire(&locks, "telegram", &scope(TOKEN)).expect("free after release");
    }

    #[test]
    fn the_file_name_and_content_carry_only_a_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = CredentialLock::acquire(&dir.path().join("locks"), "telegram", &scope(TOKEN)).expect("lock");
        let name = lock.path().file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.starts_with("telegram-bot-token-") && name.ends_with(".lock"), "{name}");
        assert_eq!(name.len(), "telegram-bot-token-".len() + 16 + ".lock".len(), "{name}");
        let content = std::fs::read_to_string(lock.path()).expect("read");
        assert!(!content.contains(TOKEN) && !content.contains("secret"), "{content}");
        let value: Value = serde_json::from_str(&content).expect("json");
        assert_eq!(value["pid"], std::process::id());
        assert_eq!(value["scope"], "telegram-bot-token");
        assert_eq!(value["metadata"]["platform"], "telegram");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("locks")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the lock dir is private: {mode:o}");
    }

    #[test]
    fn the_configured_dir_wins() {
        assert_eq!(credential_lock_dir(Some(Path::new("/x/locks"))), PathBuf::from("/x/locks"));
    }
}
