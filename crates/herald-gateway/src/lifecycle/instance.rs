//! `gateway.lock`: held with `flock(LOCK_EX|LOCK_NB)` for the process lifetime, so one
//! home has one gateway. The kernel drops the lock when the process ends, however it
//! ends, so a crash never leaves a stale lock; that is also how other commands tell a
//! running gateway from a leftover `gateway.pid`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::process::ProcessRecord;

pub const LOCK_FILE: &str = "gateway.lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InstanceLockError {
    /// Another process holds it; `holder` is what it wrote there, when readable.
    #[error("{}", held_message(.path, .holder.as_ref()))]
    Held { path: PathBuf, holder: Option<ProcessRecord> },
    #[error("cannot use the gateway lock {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn held_message(path: &Path, holder: Option<&ProcessRecord>) -> String {
    let who = match holder {
        Some(h) => format!("pid {}", h.pid),
        None => "another process".to_owned(),
    };
    format!(
        "another herald gateway ({who}) is already running with this home (it holds {}); \
         stop it with `herald gateway stop`, or take over with `herald gateway run --replace`",
        path.display()
    )
}

/// What [`InstanceLock::probe`] saw.
#[derive(Debug, Clone, PartialEq)]
pub enum LockProbe {
    /// Nobody holds the lock: no gateway runs in this home.
    Free,
    /// A gateway holds it, with what it wrote in the file.
    Held(Option<ProcessRecord>),
}

/// The held `gateway.lock`; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock of `home` without waiting, and writes this process's record in it.
    pub fn acquire(home: &Path) -> Result<InstanceLock, InstanceLockError> {
        let path = home.join(LOCK_FILE);
        let io_err = |source| InstanceLockError::Io { path: path.clone(), source };
        let mut file = open(&path).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(InstanceLockError::Held { holder: read_record(&path), path });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let record = serde_json::to_vec(&ProcessRecord::current()).map_err(|e| io_err(io::Error::other(e)))?;
        (|| {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&record)?;
            file.sync_all()
        })()
        .map_err(io_err)?;
        Ok(InstanceLock { _file: file, path })
    }

    /// Whether a gateway holds the lock of `home`, without taking it for longer than the
    /// check.
    pub fn probe(home: &Path) -> io::Result<LockProbe> {
        let path = home.join(LOCK_FILE);
        let file = match OpenOptions::new().read(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockProbe::Free),
            Err(e) => return Err(e),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(LockProbe::Free),
            Err(TryLockError::WouldBlock) => Ok(LockProbe::Held(read_record(&path))),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open(path: &Path) -> io::Result<File> {
    // Never truncated on open: the holder's record stays readable for the refusal message.
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

fn read_record(path: &Path) -> Option<ProcessRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_home_is_refused_naming_the_holder() {
        let home = tempfile::tempdir().expect("tempdir");
        assert_eq!(InstanceLock::probe(home.path()).expect("probe"), LockProbe::Free);
        let held = InstanceLock::acquire(home.path()).expect("first");
        match InstanceLock::probe(home.path()).expect("probe") {
            LockProbe::Held(Some(record)) => assert_eq!(record.pid, std::process::id()),
            other => panic!("expected held, got {other:?}"),
        }
        // flock is per open file, so the same process is refused too.
        let error = InstanceLock::acquire(home.path()).expect_err("second");
        let text = error.to_string();
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        assert!(text.contains("--replace") && text.contains("herald gateway stop"), "{text}");
        assert!(matches!(error, InstanceLockError::Held { holder: Some(_), .. }));

        drop(held);
        assert_eq!(InstanceLock::probe(home.path()).expect("probe"), LockProbe::Free);
        let again = InstanceLock::acquire(home.path()).expect("free again after release");
        assert_eq!(again.path(), home.path().join(LOCK_FILE));
    }

    #[test]
    fn a_leftover_lock_file_from_a_dead_process_does_not_block() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join(LOCK_FILE), br#"{"pid":999999,"kind":"herald-gateway"}"#).expect("write");
        let lock = InstanceLock::acquire(home.path()).expect("the kernel lock is what counts");
        let record: ProcessRecord = serde_json::from_slice(&std::fs::read(lock.path()).expect("read")).expect("json");
        assert_eq!(record.pid, std::process::id(), "the old record is replaced");
    }
}
